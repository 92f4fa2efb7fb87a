/**
 * kohya/LyCORIS adapter files (LoCon with lora_mid, LoHa with and without
 * Tucker, LoKr in its factor forms, full diff, DoRA's dora_scale on either
 * axis) merged by `modelfuse lora` into safetensors and ONNX bases with
 * diffusers-style UNet and text-encoder names. Every expected ΔW is computed
 * here from the definitions LyCORIS's own code uses (rebuild_tucker's einsum,
 * torch.kron, apply_weight_decompose), written as plain loops — not with the
 * engine's code — and compared within 1e-5 relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { writeModel } from '../fusion/helpers/build';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { matmul64, rand, readAll, relErr, runLora, transpose64, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

const EPS32 = 2 ** -23;
const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const t = (shape: number[], values: ArrayLike<number>): T => ({ shape, values: Float64Array.from(values) });

/** Σ_ij tt[i, j, κ] · wa[i, p] · wb[j, q] (LyCORIS's rebuild_tucker einsum "i j ..., i p, j r -> p r ..."). */
function tucker(tt: T, wa: T, wb: T): Float64Array {
  const [r1, r2, ...k] = tt.shape;
  const kernel = numel(k);
  const P = wa.shape[1];
  const Q = numel(wb.shape.slice(1));
  const out = new Float64Array(P * Q * kernel);
  for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) for (let c = 0; c < kernel; c++) {
    let s = 0;
    for (let i = 0; i < r1; i++) for (let j = 0; j < r2; j++) s += tt.values[(i * r2 + j) * kernel + c] * wa.values[i * P + p] * wb.values[j * Q + q];
    out[(p * Q + q) * kernel + c] = s;
  }
  return out;
}

/** torch.kron of w1 [a, c] (trailing 1-dims added) and w2 [b, d, k…]. */
function kron(w1: ArrayLike<number>, [a, c]: number[], w2: ArrayLike<number>, s2: number[]): Float64Array {
  const [b, d, ...k] = s2;
  const kernel = numel(k);
  const out = new Float64Array(a * b * c * d * kernel);
  for (let i = 0; i < a; i++) for (let p = 0; p < b; p++) for (let j = 0; j < c; j++) for (let q = 0; q < d; q++) for (let x = 0; x < kernel; x++) {
    out[(((i * b + p) * (c * d)) + j * d + q) * kernel + x] = w1[i * c + j] * w2[((p * d) + q) * kernel + x];
  }
  return out;
}

const plus = (w: ArrayLike<number>, d: ArrayLike<number>, s: number): Float64Array => Float64Array.from(w, (v, i) => v + s * d[i]);

/** LyCORIS apply_weight_decompose, multiplier 1: V · s / (‖V‖ + eps), the norm per output row ('out') or per input column ('in'). */
function decompose(V: Float64Array, [out, inF, ...k]: number[], scale: ArrayLike<number>, axis: 'out' | 'in'): Float64Array {
  const kernel = numel(k);
  const group = (idx: number): number => (axis === 'out' ? Math.floor(idx / (inF * kernel)) : Math.floor(idx / kernel) % inF);
  const sq = new Float64Array(axis === 'out' ? out : inF);
  V.forEach((v, i) => (sq[group(i)] += v * v));
  return V.map((v, i) => (v * scale[group(i)]) / (Math.sqrt(sq[group(i)]) + EPS32));
}

async function mergeSafetensors(base: Record<string, T>, adapter: Record<string, T>, extra: string[] = [], weight = ''): Promise<{ out: Record<string, T>; plan: string }> {
  const dir = tempDir('lycoris-');
  const basePath = path.join(dir, 'unet.safetensors');
  const adapterPath = path.join(dir, 'adapter.safetensors');
  writeSafetensors(basePath, base);
  writeSafetensors(adapterPath, adapter);
  const plan = await runLora(['plan', basePath, '--adapter', adapterPath]);
  assert.equal(plan.code, 0, plan.err + plan.out);
  const outPath = path.join(dir, 'out.safetensors');
  const r = await runLora([basePath, '--adapter', adapterPath + weight, '-o', outPath, ...extra]);
  assert.equal(r.code, 0, r.err);
  return { out: readAll(outPath), plan: plan.out };
}

/** Within 1e-5 of the reference, relative to each value (floored at 1e-3 of the tensor's peak, where W and ΔW cancel). */
function close(got: T, want: ArrayLike<number>, what: string): void {
  let peak = 0;
  for (let i = 0; i < want.length; i++) peak = Math.max(peak, Math.abs(want[i]));
  const e = relErr(got.values, want, peak * 1e-3);
  assert.ok(e <= 1e-5, `${what}: relative error ${e}`);
}

const alpha = (v: number): T => t([], [v]);

test('LoCon with Tucker (lora_mid) on a diffusers UNet conv: ΔW = Σ mid·up·down, scale alpha/rank', async () => {
  const r = rand(11);
  const W = r([6, 4, 3, 3]);
  const down = r([3, 4, 1, 1]);
  const mid = r([3, 3, 3, 3]);
  const up = r([6, 3, 1, 1]);
  const key = 'lora_unet_down_blocks_0_resnets_0_conv1';
  const { out, plan } = await mergeSafetensors(
    { 'down_blocks.0.resnets.0.conv1.weight': W, 'down_blocks.0.resnets.0.conv1.bias': r([6]) },
    { [`${key}.lora_down.weight`]: down, [`${key}.lora_mid.weight`]: mid, [`${key}.lora_up.weight`]: up, [`${key}.alpha`]: alpha(1.5) },
  );
  // rebuild_tucker(mid, up.view(out, r)ᵀ, down.view(r, in))
  const delta = tucker(mid, t([3, 6], transpose64(up.values, 6, 3)), t([3, 4], down.values));
  close(out['down_blocks.0.resnets.0.conv1.weight'], plus(W.values, delta, 1.5 / 3), 'conv1');
  assert.match(plan, /down_blocks_0_resnets_0_conv1 {2}→ {2}down_blocks\.0\.resnets\.0\.conv1\.weight .*\n.*\n {4}format: kohya LoCon \(Tucker, lora_mid\)/);
});

test('LoHa on a text-encoder Linear (non-square): ΔW = (w1_a·w1_b) ⊙ (w2_a·w2_b) · alpha/rank', async () => {
  const r = rand(12);
  const W = r([6, 5]);
  const [w1a, w1b, w2a, w2b] = [r([6, 2]), r([2, 5]), r([6, 2]), r([2, 5])];
  const key = 'lora_te_text_model_encoder_layers_0_self_attn_q_proj';
  const { out, plan } = await mergeSafetensors(
    { 'text_model.encoder.layers.0.self_attn.q_proj.weight': W },
    { [`${key}.hada_w1_a`]: w1a, [`${key}.hada_w1_b`]: w1b, [`${key}.hada_w2_a`]: w2a, [`${key}.hada_w2_b`]: w2b, [`${key}.alpha`]: alpha(4) },
  );
  const p1 = matmul64(w1a.values, w1b.values, 6, 2, 5);
  const p2 = matmul64(w2a.values, w2b.values, 6, 2, 5);
  close(out['text_model.encoder.layers.0.self_attn.q_proj.weight'], plus(W.values, p1.map((v, i) => v * p2[i]), 4 / 2), 'q_proj');
  assert.match(plan, /format: kohya LoHa/);
  assert.match(plan, /scale 2\.000 = weight 1 × --scale 1 × lora_te_text_model_encoder_layers_0_self_attn_q_proj\.alpha = 4 \/ rank 2/);
});

test('LoHa with Tucker (hada_t1/t2) on a conv, and a conv LoHa stored flat [r, in·k·k]', async () => {
  const r = rand(13);
  const Wt = r([4, 3, 3, 3]);
  const Wf = r([4, 3, 3, 3]);
  const [t1, a1, b1, t2, a2, b2] = [r([2, 2, 3, 3]), r([2, 4]), r([2, 3]), r([2, 2, 3, 3]), r([2, 4]), r([2, 3])];
  const [fa1, fb1, fa2, fb2] = [r([4, 2]), r([2, 27]), r([4, 2]), r([2, 27])];
  const kt = 'lora_unet_mid_block_resnets_0_conv1';
  const kf = 'lora_unet_mid_block_resnets_0_conv2';
  const { out } = await mergeSafetensors(
    { 'mid_block.resnets.0.conv1.weight': Wt, 'mid_block.resnets.0.conv2.weight': Wf },
    {
      [`${kt}.hada_t1`]: t1, [`${kt}.hada_w1_a`]: a1, [`${kt}.hada_w1_b`]: b1, [`${kt}.hada_t2`]: t2, [`${kt}.hada_w2_a`]: a2, [`${kt}.hada_w2_b`]: b2, [`${kt}.alpha`]: alpha(1),
      [`${kf}.hada_w1_a`]: fa1, [`${kf}.hada_w1_b`]: fb1, [`${kf}.hada_w2_a`]: fa2, [`${kf}.hada_w2_b`]: fb2, [`${kf}.alpha`]: alpha(2),
    },
  );
  const r1 = tucker(t1, a1, b1);
  const r2 = tucker(t2, a2, b2);
  close(out['mid_block.resnets.0.conv1.weight'], plus(Wt.values, r1.map((v, i) => v * r2[i]), 1 / 2), 'Tucker LoHa');
  const f1 = matmul64(fa1.values, fb1.values, 4, 2, 27);
  const f2 = matmul64(fa2.values, fb2.values, 4, 2, 27);
  close(out['mid_block.resnets.0.conv2.weight'], plus(Wf.values, f1.map((v, i) => v * f2[i]), 2 / 2), 'flat LoHa reshaped to the conv');
});

test('LoKr: w1 ⊗ (w2_a·w2_b) with alpha/rank; w1_a·w1_b ⊗ w2; both factors full (scale 1, alpha ignored); Tucker lokr_t2 on a conv', async () => {
  const r = rand(14);
  const base = {
    'down_blocks.0.attentions.0.proj_in.weight': r([6, 8]),
    'down_blocks.0.attentions.0.proj_out.weight': r([6, 8]),
    'down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight': r([4, 6]),
    'down_blocks.0.downsamplers.0.conv.weight': r([4, 6, 3, 3]),
  };
  const [w1, w2a, w2b] = [r([2, 2]), r([3, 2]), r([2, 4])];
  const [w1a, w1b, w2] = [r([2, 1]), r([1, 2]), r([3, 4])];
  const [fw1, fw2] = [r([2, 3]), r([2, 2])];
  const [cw1, t2, cw2a, cw2b] = [r([2, 3]), r([2, 2, 3, 3]), r([2, 2]), r([2, 2])];
  const k = (m: string): string => `lora_unet_down_blocks_0_${m}`;
  const { out, plan } = await mergeSafetensors(base, {
    [`${k('attentions_0_proj_in')}.lokr_w1`]: w1, [`${k('attentions_0_proj_in')}.lokr_w2_a`]: w2a, [`${k('attentions_0_proj_in')}.lokr_w2_b`]: w2b, [`${k('attentions_0_proj_in')}.alpha`]: alpha(1),
    [`${k('attentions_0_proj_out')}.lokr_w1_a`]: w1a, [`${k('attentions_0_proj_out')}.lokr_w1_b`]: w1b, [`${k('attentions_0_proj_out')}.lokr_w2`]: w2, [`${k('attentions_0_proj_out')}.alpha`]: alpha(3),
    [`${k('attentions_0_transformer_blocks_0_ff_net_2')}.lokr_w1`]: fw1, [`${k('attentions_0_transformer_blocks_0_ff_net_2')}.lokr_w2`]: fw2, [`${k('attentions_0_transformer_blocks_0_ff_net_2')}.alpha`]: alpha(8),
    [`${k('downsamplers_0_conv')}.lokr_w1`]: cw1, [`${k('downsamplers_0_conv')}.lokr_t2`]: t2, [`${k('downsamplers_0_conv')}.lokr_w2_a`]: cw2a, [`${k('downsamplers_0_conv')}.lokr_w2_b`]: cw2b, [`${k('downsamplers_0_conv')}.alpha`]: alpha(1),
  });
  close(out['down_blocks.0.attentions.0.proj_in.weight'], plus(base['down_blocks.0.attentions.0.proj_in.weight'].values, kron(w1.values, [2, 2], matmul64(w2a.values, w2b.values, 3, 2, 4), [3, 4]), 1 / 2), 'w1 ⊗ w2_a·w2_b');
  close(out['down_blocks.0.attentions.0.proj_out.weight'], plus(base['down_blocks.0.attentions.0.proj_out.weight'].values, kron(matmul64(w1a.values, w1b.values, 2, 1, 2), [2, 2], w2.values, [3, 4]), 3 / 1), 'w1_a·w1_b ⊗ w2');
  close(out['down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight'], plus(base['down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight'].values, kron(fw1.values, [2, 3], fw2.values, [2, 2]), 1), 'full ⊗ full');
  close(out['down_blocks.0.downsamplers.0.conv.weight'], plus(base['down_blocks.0.downsamplers.0.conv.weight'].values, kron(cw1.values, [2, 3], tucker(t2, cw2a, cw2b), [2, 2, 3, 3]), 1 / 2), 'w1 ⊗ Tucker w2');
  assert.match(plan, /LoKr with both factors full: scale 1 \(lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2\.alpha is not used\)/);
});

test('full diff: W + diff and b + diff_b, scale 1', async () => {
  const r = rand(15);
  const [W, b, diff, diffB] = [r([5, 7]), r([5]), r([5, 7], 0.1), r([5], 0.1)];
  const key = 'lora_unet_time_embedding_linear_1';
  const { out, plan } = await mergeSafetensors({ 'time_embedding.linear_1.weight': W, 'time_embedding.linear_1.bias': b }, { [`${key}.diff`]: diff, [`${key}.diff_b`]: diffB });
  close(out['time_embedding.linear_1.weight'], plus(W.values, diff.values, 1), 'weight');
  close(out['time_embedding.linear_1.bias'], plus(b.values, diffB.values, 1), 'bias');
  assert.match(plan, /format: kohya full diff/);
});

/** A kohya LoCon module with dora_scale on a Linear [out, in]. */
function doraCase(seed: number, out: number, inF: number, axis: 'out' | 'in') {
  const r = rand(seed);
  const W = r([out, inF]);
  const down = r([2, inF]);
  const up = r([out, 2]);
  const dora = axis === 'out' ? t([out, 1], r([out]).values.map((v) => 1 + Math.abs(v))) : t([1, inF], r([inF]).values.map((v) => 1 + Math.abs(v)));
  const key = 'lora_te_text_model_encoder_layers_0_mlp_fc1';
  const adapter = { [`${key}.lora_down.weight`]: down, [`${key}.lora_up.weight`]: up, [`${key}.alpha`]: alpha(1), [`${key}.dora_scale`]: dora };
  const V = plus(W.values, matmul64(up.values, down.values, out, 2, inF), 1 / 2);
  const other = axis === 'out' ? 'in' : 'out';
  return {
    W, adapter, V, dora,
    expected: decompose(V, [out, inF], dora.values, axis),
    wrongAxis: out === inF ? decompose(V, [out, inF], dora.values, other) : new Float64Array(0),
  };
}

for (const [out, inF] of [[6, 5], [5, 5]] as const) {
  for (const axis of ['out', 'in'] as const) {
    test(`LyCORIS DoRA, dora_scale per ${axis === 'out' ? 'output' : 'input'} feature, ${out === inF ? 'square' : 'non-square'} [${out}, ${inF}] Linear: W' = V·s/(‖V‖+eps) on that axis, named in the plan`, async () => {
      const c = doraCase(20 + out + (axis === 'in' ? 1 : 0), out, inF, axis);
      const { out: merged, plan } = await mergeSafetensors({ 'text_model.encoder.layers.0.mlp.fc1.weight': c.W }, c.adapter);
      close(merged['text_model.encoder.layers.0.mlp.fc1.weight'], c.expected, 'DoRA');
      // On a square layer the other axis also "works" — and gives other numbers.
      if (out === inF) assert.ok(relErr(c.wrongAxis, c.expected, 1e-3) > 1e-3, 'the two conventions differ on these numbers');
      assert.match(plan, axis === 'out' ? new RegExp(`DoRA: LyCORIS dora_scale \\[${out}, 1\\]: per output feature`) : new RegExp(`DoRA: LyCORIS dora_scale \\[1, ${inF}\\]: per input feature`));
    });
  }
}

test("LyCORIS DoRA with a user weight: LyCORIS's multiplier, f' = w·(s/(‖V‖+eps) − 1) + 1, V with the full ΔW; the same merge in the ONNX Runtime worker", async () => {
  const c = doraCase(40, 6, 5, 'out');
  const f = (w: number): Float64Array => {
    const full = decompose(c.V, [6, 5], Float64Array.from({ length: 6 }, () => 1), 'out'); // V / (‖V‖ + eps)
    return c.V.map((v, i) => v * (w * ((c.dora.values[Math.floor(i / 5)] * full[i]) / v - 1) + 1));
  };
  for (const matmul of ['js', 'ort']) {
    const { out } = await mergeSafetensors({ 'text_model.encoder.layers.0.mlp.fc1.weight': c.W }, c.adapter, ['--matmul', matmul], '=0.5');
    close(out['text_model.encoder.layers.0.mlp.fc1.weight'], f(0.5), `weight 0.5, --matmul ${matmul}`);
  }
});

test('PEFT DoRA on a square layer: lora_magnitude_vector per output row, stated as the PEFT convention', async () => {
  const r = rand(31);
  const [W, A, B] = [r([5, 5]), r([2, 5]), r([5, 2])];
  const m = t([5], r([5]).values.map((v) => 1 + Math.abs(v)));
  const dir = path.join(tempDir('peft-dora-'), 'a');
  writePeftAdapter(dir, { r: 2, lora_alpha: 4, use_dora: true }, {
    'base_model.model.fc.lora_A.weight': A, 'base_model.model.fc.lora_B.weight': B, 'base_model.model.fc.lora_magnitude_vector': m,
  });
  const base = path.join(path.dirname(dir), 'base.safetensors');
  writeSafetensors(base, { 'fc.weight': W });
  const plan = await runLora(['plan', base, '--adapter', dir]);
  assert.match(plan.out, /DoRA: PEFT lora_magnitude_vector: one magnitude per output feature/);
  const outPath = path.join(path.dirname(dir), 'out.safetensors');
  assert.equal((await runLora([base, '--adapter', dir, '-o', outPath])).code, 0);
  const V = plus(W.values, matmul64(B.values, A.values, 5, 2, 5), 2);
  const norms = Array.from({ length: 5 }, (_, o) => Math.hypot(...V.slice(o * 5, o * 5 + 5)));
  close(readAll(outPath)['fc.weight'], V.map((v, i) => (v * m.values[Math.floor(i / 5)]) / norms[Math.floor(i / 5)]), 'PEFT DoRA');
});

test('DoRA files that do not say their convention are refused with the reason', async () => {
  const dir = tempDir('dora-bad-');
  const base = path.join(dir, 'base.safetensors');
  const r = rand(40);
  writeSafetensors(base, { 'a.weight': r([5, 5]), 'b.weight': r([5, 5]) });
  const lora = (k: string): Record<string, T> => ({ [`${k}.lora_down.weight`]: r([2, 5]), [`${k}.lora_up.weight`]: r([5, 2]) });
  const cases: [string, Record<string, T>, RegExp][] = [
    ['one-axis.safetensors', { ...lora('lora_unet_a'), 'lora_unet_a.dora_scale': r([5]) }, /dora_scale has shape \[5\], which does not say its axis .* ModelFuse will not guess/],
    ['mixed-axes.safetensors', { ...lora('lora_unet_a'), 'lora_unet_a.dora_scale': r([5, 1]), ...lora('lora_unet_b'), 'lora_unet_b.dora_scale': r([1, 5]) },
      /mixes both dora_scale conventions: 'a' \[5, 1\] normalises per output feature and 'b' \[1, 5\] per input feature/],
    ['mixed-peft.safetensors', { ...lora('lora_unet_a'), 'lora_unet_a.dora_scale': r([5, 1]), 'base_model.model.b.lora_magnitude_vector': r([5]) },
      /mixes the two DoRA conventions: PEFT's 'base_model\.model\.b\.lora_magnitude_vector' .* and LyCORIS's 'lora_unet_a\.dora_scale'/],
  ];
  for (const [name, tensors, reason] of cases) {
    const file = path.join(dir, name);
    writeSafetensors(file, tensors);
    const before = fs.readFileSync(file);
    const res = await runLora([base, '--adapter', file, '-o', path.join(dir, `${name}.out.safetensors`)]);
    assert.equal(res.code, 2, name);
    assert.match(res.err, reason, name);
    assert.ok(!res.err.includes('    at '), 'no stack trace');
    assert.ok(!fs.existsSync(path.join(dir, `${name}.out.safetensors`)), 'nothing written');
    assert.deepEqual(fs.readFileSync(file), before, 'input untouched');
  }
});

test('LyCORIS into an ONNX base: LoHa into a MatMul weight stored [in, out] and DoRA per input feature into a Gemm', async () => {
  const r = rand(50);
  const dir = tempDir('lycoris-onnx-');
  const Wq = r([5, 6]); // MatMul: [in, out]
  const Wk = r([6, 5]); // Gemm transB=1: [out, in] (PyTorch layout)
  const model = writeModel(dir, 'te.onnx', {
    inputs: [{ name: 'x', dims: [2, 5] }],
    outputs: [{ name: 'y', dims: [2, 6] }, { name: 'z', dims: [2, 6] }],
    nodes: [
      { op: 'MatMul', name: '/text_model/encoder/layers.0/self_attn/q_proj/MatMul', inputs: ['x', 'text_model.encoder.layers.0.self_attn.q_proj.weight'], outputs: ['y'] },
      { op: 'Gemm', name: '/text_model/encoder/layers.0/self_attn/k_proj/Gemm', inputs: ['x', 'text_model.encoder.layers.0.self_attn.k_proj.weight'], outputs: ['z'], attrs: { transB: 1 } },
    ],
    initializers: [
      { name: 'text_model.encoder.layers.0.self_attn.q_proj.weight', dims: [5, 6], values: Wq.values },
      { name: 'text_model.encoder.layers.0.self_attn.k_proj.weight', dims: [6, 5], values: Wk.values },
    ],
  });
  const [w1a, w1b, w2a, w2b] = [r([6, 2]), r([2, 5]), r([6, 2]), r([2, 5])];
  const [down, up] = [r([2, 5]), r([6, 2])];
  const dora = t([1, 5], r([5]).values.map((v) => 1 + Math.abs(v)));
  const q = 'lora_te_text_model_encoder_layers_0_self_attn_q_proj';
  const k = 'lora_te_text_model_encoder_layers_0_self_attn_k_proj';
  const adapter = path.join(dir, 'te.safetensors');
  writeSafetensors(adapter, {
    [`${q}.hada_w1_a`]: w1a, [`${q}.hada_w1_b`]: w1b, [`${q}.hada_w2_a`]: w2a, [`${q}.hada_w2_b`]: w2b, [`${q}.alpha`]: alpha(2),
    [`${k}.lora_down.weight`]: down, [`${k}.lora_up.weight`]: up, [`${k}.alpha`]: alpha(2), [`${k}.dora_scale`]: dora,
  });
  const outPath = path.join(dir, 'merged.onnx');
  const res = await runLora([model, '--adapter', adapter, '-o', outPath]);
  assert.equal(res.code, 0, res.err);
  const merged = OnnxModel.load(outPath);
  const value = (name: string): T => ({ shape: [], values: merged.tensorValues(merged.graph.initializer.find((x) => x.name === name)!) });
  const p1 = matmul64(w1a.values, w1b.values, 6, 2, 5);
  const p2 = matmul64(w2a.values, w2b.values, 6, 2, 5);
  const dq = p1.map((v, i) => v * p2[i]); // [out, in]
  close(value('text_model.encoder.layers.0.self_attn.q_proj.weight'), plus(Wq.values, transpose64(dq, 6, 5), 1), 'LoHa into MatMul [in, out]');
  const V = plus(Wk.values, matmul64(up.values, down.values, 6, 2, 5), 1);
  close(value('text_model.encoder.layers.0.self_attn.k_proj.weight'), decompose(V, [6, 5], dora.values, 'in'), 'DoRA per input feature into Gemm');
  merged.close();
});
