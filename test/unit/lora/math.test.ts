/**
 * Every adapter_config field that changes the numbers, on adapters written
 * here as real safetensors files; expected values are computed in float64 in
 * this file from the formulas PEFT documents (not with the engine's code).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { bfloat16Bits, bfloat16FromBits, float16Bits, float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { moduleScale, parseLoraConfig, patternKey } from '../../../extension/engine/lora/adapterConfig';
import { addScaled, matmul64, rand, readAll, relErr, runLora, transpose64, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

const P = 'base_model.model.';

/** The `--json` report's rows these tests read. */
interface MergedRow { key: string; target: string; scale: number; delta_fro: number; rel_change: number; adapter: string }

async function merge(base: Record<string, T>, adapters: string[], extra: string[] = []): Promise<{ out: Record<string, T>; report: { merged: MergedRow[] } }> {
  const dir = tempDir();
  const basePath = path.join(dir, 'base.safetensors');
  writeSafetensors(basePath, base);
  const outPath = path.join(dir, 'out.safetensors');
  const r = await runLora([basePath, ...adapters.flatMap((a) => ['--adapter', a]), '-o', outPath, '--json', ...extra]);
  assert.equal(r.code, 0, r.err);
  return { out: readAll(outPath), report: JSON.parse(r.out) };
}

/** Float32 outputs: every element within `tol` of the tensor's largest magnitude (float32 rounding is ~6e-8 of it). */
function close(got: T, want: ArrayLike<number>, tol = 1e-6): void {
  let peak = 0;
  for (let i = 0; i < want.length; i++) peak = Math.max(peak, Math.abs(want[i]));
  const e = relErr(got.values, want, peak);
  assert.ok(e <= tol, `max err ${e} of the largest magnitude ${peak}`);
}

test('PEFT pattern keys: first key (JSON order) that matches a dotted suffix as a regex; rsLoRA uses alpha/√r', () => {
  assert.equal(patternKey(['q', 'layers.1.q'], 'model.layers.1.q'), 'q');
  assert.equal(patternKey(['layers.1.q', 'q'], 'model.layers.1.q'), 'layers.1.q');
  assert.equal(patternKey(['yers.1.q'], 'model.layers.1.q'), undefined, 'a pattern must start at a dot boundary');
  assert.equal(patternKey(['layers\\.\\d+\\.k'], 'model.layers.7.k'), 'layers\\.\\d+\\.k');
  assert.equal(patternKey(['k'], 'model.layers.7.k_proj'), undefined, 'a pattern must reach the end');
  const cfg = parseLoraConfig({ r: 16, lora_alpha: 8, use_rslora: true, rank_pattern: { 'layers.1.q': 4 }, alpha_pattern: { '.*\\.k': 2 } }, 'cfg');
  assert.equal(moduleScale(cfg, 'm.layers.0.q').scale, 8 / 4);
  assert.equal(moduleScale(cfg, 'm.layers.1.q').scale, 8 / 2);
  assert.equal(moduleScale(cfg, 'm.layers.1.k').scale, 2 / 4);
});

test('rsLoRA: scale = lora_alpha / sqrt(r)', async () => {
  const r = rand(1);
  const W = r([6, 5]);
  const A = r([4, 5]);
  const B = r([6, 4]);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 4, lora_alpha: 6, use_rslora: true }, { [`${P}fc.lora_A.weight`]: A, [`${P}fc.lora_B.weight`]: B });
  const { out, report } = await merge({ 'fc.weight': W }, [ad]);
  close(out['fc.weight'], addScaled(W.values, matmul64(B.values, A.values, 6, 4, 5), 6 / 2));
  assert.equal(report.merged[0].scale, 3);
});

test('rank_pattern and alpha_pattern override r and lora_alpha per module', async () => {
  const r = rand(2);
  const base = { 'model.layers.0.q.weight': r([5, 4]), 'model.layers.1.q.weight': r([5, 4]), 'model.layers.0.k.weight': r([5, 4]) };
  const t: Record<string, T> = {};
  const ranks: Record<string, number> = { 'model.layers.0.q': 4, 'model.layers.1.q': 2, 'model.layers.0.k': 4 };
  for (const [m, rk] of Object.entries(ranks)) {
    t[`${P}${m}.lora_A.weight`] = r([rk, 4]);
    t[`${P}${m}.lora_B.weight`] = r([5, rk]);
  }
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 4, lora_alpha: 8, rank_pattern: { 'layers.1.q': 2 }, alpha_pattern: { 'layers\\.0\\.k': 2 } }, t);
  const { out } = await merge(base, [ad]);
  const scales: Record<string, number> = { 'model.layers.0.q': 8 / 4, 'model.layers.1.q': 8 / 2, 'model.layers.0.k': 2 / 4 };
  for (const [m, rk] of Object.entries(ranks)) {
    const d = matmul64(t[`${P}${m}.lora_B.weight`].values, t[`${P}${m}.lora_A.weight`].values, 5, rk, 4);
    close(out[`${m}.weight`], addScaled(base[`${m}.weight` as keyof typeof base].values, d, scales[m]));
  }
});

test('DoRA (linear): W\' = m · (W + s·B·A) / ‖W + s·B·A‖ with the norm per output row', async () => {
  const r = rand(3);
  const [o, i, k] = [6, 5, 2];
  const W = r([o, i]);
  const A = r([k, i]);
  const B = r([o, k]);
  const M = r([o], 2);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: k, lora_alpha: 4, use_dora: true }, {
    [`${P}proj.lora_A.weight`]: A, [`${P}proj.lora_B.weight`]: B, [`${P}proj.lora_magnitude_vector`]: M,
  });
  const { out } = await merge({ 'proj.weight': W }, [ad]);
  const V = addScaled(W.values, matmul64(B.values, A.values, o, k, i), 2);
  const want = new Float64Array(o * i);
  for (let row = 0; row < o; row++) {
    let sq = 0;
    for (let c = 0; c < i; c++) sq += V[row * i + c] ** 2;
    for (let c = 0; c < i; c++) want[row * i + c] = (M.values[row] / Math.sqrt(sq)) * V[row * i + c];
  }
  close(out['proj.weight'], want);
});

test('conv LoRA: lora_A a k×k conv [r,in,k,k], lora_B a 1×1 conv [out,r,1,1]', async () => {
  const r = rand(4);
  const W = r([4, 3, 3, 3]);
  const A = r([2, 3, 3, 3]);
  const B = r([4, 2, 1, 1]);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 3 }, { [`${P}conv.lora_A.weight`]: A, [`${P}conv.lora_B.weight`]: B });
  const { out } = await merge({ 'conv.weight': W, 'conv.bias': r([4]) }, [ad]);
  close(out['conv.weight'], addScaled(W.values, matmul64(B.values, A.values, 4, 2, 27), 1.5));
});

test('embedding LoRA: ΔW = (B·A)ᵀ with lora_embedding_A [r, num] and lora_embedding_B [dim, r]', async () => {
  const r = rand(5);
  const W = r([10, 6]);
  const A = r([3, 10]);
  const B = r([6, 3]);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 3, lora_alpha: 3 }, { [`${P}embed.lora_embedding_A`]: A, [`${P}embed.lora_embedding_B`]: B });
  const { out } = await merge({ 'embed.weight': W }, [ad]);
  close(out['embed.weight'], addScaled(W.values, transpose64(matmul64(B.values, A.values, 6, 3, 10), 6, 10), 1));
});

test('fan_in_fan_out: a GPT-2 Conv1D weight [in, out] gets (B·A)ᵀ', async () => {
  const r = rand(6);
  const W = r([5, 7]); // [in, out]
  const A = r([2, 5]);
  const B = r([7, 2]);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 2, fan_in_fan_out: true }, { [`${P}h.0.attn.c_attn.lora_A.weight`]: A, [`${P}h.0.attn.c_attn.lora_B.weight`]: B });
  const { out } = await merge({ 'h.0.attn.c_attn.weight': W }, [ad]);
  close(out['h.0.attn.c_attn.weight'], addScaled(W.values, transpose64(matmul64(B.values, A.values, 7, 2, 5), 7, 5), 1));
});

test('two weighted adapters and --scale: W + Σ wᵢ·scaleᵢ·Bᵢ·Aᵢ, times the global scale', async () => {
  const r = rand(7);
  const W = r([6, 4]);
  const [A1, B1, A2, B2] = [r([2, 4]), r([6, 2]), r([3, 4]), r([6, 3])];
  const a1 = writePeftAdapter(path.join(tempDir(), 'a1'), { r: 2, lora_alpha: 4 }, { [`${P}fc.lora_A.weight`]: A1, [`${P}fc.lora_B.weight`]: B1 });
  const a2 = writePeftAdapter(path.join(tempDir(), 'a2'), { r: 3, lora_alpha: 3 }, { [`${P}fc.lora_A.weight`]: A2, [`${P}fc.lora_B.weight`]: B2 });
  const { out, report } = await merge({ 'fc.weight': W }, [`${a1}=0.7`, `${a2}=0.3`], ['--scale', '0.5']);
  const d1 = matmul64(B1.values, A1.values, 6, 2, 4);
  const d2 = matmul64(B2.values, A2.values, 6, 3, 4);
  close(out['fc.weight'], addScaled(addScaled(W.values, d1, 0.7 * 2 * 0.5), d2, 0.3 * 1 * 0.5));
  assert.deepEqual(report.merged.map((m) => m.scale), [0.7 * 2 * 0.5, 0.3 * 1 * 0.5]);
  assert.deepEqual(report.merged.map((m) => m.adapter), [a1, a2]);
});

test('kohya keys: lora_unet_… with lora_down/lora_up and .alpha, matched by normalising "." and "_"', async () => {
  const r = rand(8);
  const W = r([8, 6]);
  const T1 = r([5, 6]);
  const [A, B, A2, B2] = [r([4, 6]), r([8, 4]), r([2, 6]), r([5, 2])];
  const file = path.join(tempDir(), 'kohya.safetensors');
  writeSafetensors(file, {
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': A,
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': B,
    'lora_unet_down_blocks_0_attentions_0_proj_in.alpha': { shape: [], values: Float64Array.of(2) },
    'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': A2,
    'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight': B2,
  });
  const { out, report } = await merge({ 'down_blocks.0.attentions.0.proj_in.weight': W, 'text_model.encoder.layers.0.mlp.fc1.weight': T1 }, [file]);
  close(out['down_blocks.0.attentions.0.proj_in.weight'], addScaled(W.values, matmul64(B.values, A.values, 8, 4, 6), 2 / 4));
  close(out['text_model.encoder.layers.0.mlp.fc1.weight'], addScaled(T1.values, matmul64(B2.values, A2.values, 5, 2, 6), 1), 1e-6); // no .alpha: alpha = rank
  assert.equal(report.merged.length, 2);
});

test('float16 base: the result is W + s·B·A rounded once to float16 (bit-exact)', async () => {
  const r = rand(9);
  const [o, i, k] = [64, 48, 4];
  // float16 base values; adapter values are multiples of 1/64 so every product is exact and the test can demand bits
  const W = r([o, i]);
  for (let x = 0; x < W.values.length; x++) W.values[x] = float16FromBits(float16Bits(W.values[x]));
  W.dtype = 'F16';
  const A = r([k, i]);
  const B = r([o, k]);
  for (const t of [A, B]) for (let x = 0; x < t.values.length; x++) t.values[x] = Math.round(t.values[x] * 64) / 64;
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: k, lora_alpha: 1 }, { [`${P}fc.lora_A.weight`]: A, [`${P}fc.lora_B.weight`]: B });
  const { out } = await merge({ 'fc.weight': W }, [ad]);
  assert.equal(out['fc.weight'].dtype, 'F16');
  const exact = addScaled(W.values, matmul64(B.values, A.values, o, k, i), 1 / k);
  let roundedAway = 0;
  for (let x = 0; x < exact.length; x++) {
    assert.equal(float16Bits(out['fc.weight'].values[x]), float16Bits(exact[x]), `element ${x}: ${exact[x]}`);
    if (float16FromBits(float16Bits(exact[x])) !== exact[x]) roundedAway++;
  }
  assert.ok(roundedAway > exact.length / 2, 'the test values really need rounding');
});

test('lora_bias: the base bias gets scale · lora_B.bias; modules_to_save tensors replace the base tensors', async () => {
  const r = rand(10);
  const [W, b, A, B, bb] = [r([4, 3]), r([4]), r([2, 3]), r([4, 2]), r([4])];
  const [cw, cb] = [r([2, 4]), r([2])];
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 1, lora_bias: true, modules_to_save: ['classifier'] }, {
    [`${P}fc.lora_A.weight`]: A, [`${P}fc.lora_B.weight`]: B, [`${P}fc.lora_B.bias`]: bb,
    [`${P}classifier.weight`]: cw, [`${P}classifier.bias`]: cb,
  });
  const { out } = await merge({ 'fc.weight': W, 'fc.bias': b, 'classifier.weight': r([2, 4]), 'classifier.bias': r([2]) }, [ad]);
  close(out['fc.weight'], addScaled(W.values, matmul64(B.values, A.values, 4, 2, 3), 0.5));
  close(out['fc.bias'], addScaled(b.values, bb.values, 0.5));
  assert.deepEqual(Array.from(out['classifier.weight'].values), Array.from(cw.values));
  assert.deepEqual(Array.from(out['classifier.bias'].values), Array.from(cb.values));
});

test('bare PEFT safetensors: config from __metadata__ when present, else --rank/--alpha (required)', async () => {
  const r = rand(12);
  const [W, A, B] = [r([3, 4]), r([2, 4]), r([3, 2])];
  const dir = tempDir();
  const bare = path.join(dir, 'bare.safetensors');
  writeSafetensors(bare, { 'fc.lora_A.weight': A, 'fc.lora_B.weight': B });
  const withMeta = path.join(dir, 'meta.safetensors');
  writeSafetensors(withMeta, { 'fc.lora_A.weight': A, 'fc.lora_B.weight': B }, { lora_adapter_metadata: JSON.stringify({ r: 2, lora_alpha: 6 }) });
  const d = matmul64(B.values, A.values, 3, 2, 4);
  close((await merge({ 'fc.weight': W }, [withMeta])).out['fc.weight'], addScaled(W.values, d, 3));
  close((await merge({ 'fc.weight': W }, [bare], ['--rank', '2', '--alpha', '1'])).out['fc.weight'], addScaled(W.values, d, 0.5));
  const base = path.join(dir, 'b.safetensors');
  writeSafetensors(base, { 'fc.weight': W });
  const noAlpha = await runLora([base, '--adapter', bare, '-o', path.join(dir, 'x.safetensors')]);
  assert.equal(noAlpha.code, 2);
  assert.match(noAlpha.err, /bare\.safetensors: .*--alpha/);
  const wrongRank = await runLora([base, '--adapter', bare, '-o', path.join(dir, 'y.safetensors'), '--rank', '3', '--alpha', '1']);
  assert.match(wrongRank.err, /rank 3 but lora_A has 2 rows/);
  assert.ok(!fs.existsSync(path.join(dir, 'x.safetensors')) && !fs.existsSync(path.join(dir, 'y.safetensors')));
});

test('sharded base → sharded output with a new index; tensors outside the adapter are copied byte for byte', async () => {
  const r = rand(13);
  const dir = tempDir();
  const [W0, W1, A, B] = [r([4, 3]), r([4, 3]), r([2, 3]), r([4, 2])];
  writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), { 'l.0.fc.weight': W0 });
  writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), { 'l.1.fc.weight': W1 });
  const index = { metadata: { total_size: 96 }, weight_map: { 'l.0.fc.weight': 'model-00001-of-00002.safetensors', 'l.1.fc.weight': 'model-00002-of-00002.safetensors' } };
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 2 }, { [`${P}l.1.fc.lora_A.weight`]: A, [`${P}l.1.fc.lora_B.weight`]: B });
  const outDir = path.join(dir, 'out');
  fs.mkdirSync(outDir);
  const res = await runLora([path.join(dir, 'model.safetensors.index.json'), '--adapter', ad, '-o', path.join(outDir, 'model.safetensors.index.json')]);
  assert.equal(res.code, 0, res.err);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(outDir, 'model.safetensors.index.json'), 'utf8')), index);
  assert.deepEqual(fs.readFileSync(path.join(outDir, 'model-00001-of-00002.safetensors')), fs.readFileSync(path.join(dir, 'model-00001-of-00002.safetensors')));
  close(readAll(path.join(outDir, 'model-00002-of-00002.safetensors'))['l.1.fc.weight'], addScaled(W1.values, matmul64(B.values, A.values, 4, 2, 3), 1));
});

test('DoRA (conv): the norm is per output channel, over in × k × k', async () => {
  const r = rand(14);
  const W = r([3, 2, 3, 3]);
  const A = r([2, 2, 3, 3]);
  const B = r([3, 2, 1, 1]);
  const M = r([1, 3, 1, 1], 2);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 2, use_dora: true }, {
    [`${P}conv.lora_A.weight`]: A, [`${P}conv.lora_B.weight`]: B, [`${P}conv.lora_magnitude_vector`]: M,
  });
  const { out } = await merge({ 'conv.weight': W }, [ad]);
  const V = addScaled(W.values, matmul64(B.values, A.values, 3, 2, 18), 1);
  const want = new Float64Array(54);
  for (let o = 0; o < 3; o++) {
    let sq = 0;
    for (let c = 0; c < 18; c++) sq += V[o * 18 + c] ** 2;
    for (let c = 0; c < 18; c++) want[o * 18 + c] = (M.values[o] / Math.sqrt(sq)) * V[o * 18 + c];
  }
  close(out['conv.weight'], want);
});

test('bfloat16 base: W + s·B·A rounded once to bfloat16 (bit-exact)', async () => {
  const r = rand(15);
  const W = r([32, 24]);
  for (let x = 0; x < W.values.length; x++) W.values[x] = bfloat16FromBits(bfloat16Bits(W.values[x]));
  W.dtype = 'BF16';
  const A = r([2, 24]);
  const B = r([32, 2]);
  for (const t of [A, B]) for (let x = 0; x < t.values.length; x++) t.values[x] = Math.round(t.values[x] * 1024) / 1024;
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 2 }, { [`${P}fc.lora_A.weight`]: A, [`${P}fc.lora_B.weight`]: B });
  const { out } = await merge({ 'fc.weight': W }, [ad]);
  const exact = addScaled(W.values, matmul64(B.values, A.values, 32, 2, 24), 1);
  for (let x = 0; x < exact.length; x++) assert.equal(bfloat16Bits(out['fc.weight'].values[x]), bfloat16Bits(exact[x]), `element ${x}`);
});
