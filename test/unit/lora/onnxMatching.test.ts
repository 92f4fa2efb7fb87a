/**
 * ONNX matching beyond the fixtures: Linear weights without a bias and with a
 * scope that lost its parents (call order), Gemm with transB 0/1, MatMul
 * through a Transpose, Gather embeddings, shared initializers, external data.
 * Models are real ONNX protobufs built here and run by ONNX Runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fixture, tempDir } from '../helpers/fixtures';
import { onnx, DataType } from '../../../extension/engine/onnx/proto';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { addScaled, matmul64, rand, relErr, runLora, transpose64, writePeftAdapter, type T } from './loraTestUtils';

const P = 'base_model.model.';

function initValues(model: string, name: string): Float64Array {
  const m = OnnxModel.load(model);
  try {
    const t = m.graph.initializer.find((x) => x.name === name);
    assert.ok(t, `initializer ${name}`);
    return m.tensorValues(t);
  } finally {
    m.close();
  }
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-6): void {
  let peak = 0;
  for (let i = 0; i < want.length; i++) peak = Math.max(peak, Math.abs(want[i]));
  const e = relErr(got, want, peak);
  assert.ok(e <= tol, `max err ${e} of ${peak}`);
}

test('lora_linear_qv: o_proj (no bias, scope lost its parents) and lm_head are matched by call order', async () => {
  const r = rand(31);
  const t: Record<string, T> = {};
  for (const m of ['layers.0.attn.o_proj', 'layers.1.attn.o_proj', 'lm_head']) {
    t[`${P}${m}.lora_A.weight`] = r([2, 32]);
    t[`${P}${m}.lora_B.weight`] = r([m === 'lm_head' ? 64 : 32, 2]);
  }
  const dir = tempDir();
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 2 }, t);
  const plan = await runLora(['plan', fixture('lora_linear_qv', 'base.onnx'), '--adapter', ad, '--json']);
  assert.equal(plan.code, 0, plan.err + plan.out);
  const pairs = Object.fromEntries(JSON.parse(plan.out).pairs.map((p: { module: string; target: string; evidence: string[] }) => [p.module, p]));
  assert.equal(pairs['layers.0.attn.o_proj'].target, 'onnx::MatMul_103');
  assert.equal(pairs['layers.1.attn.o_proj'].target, 'onnx::MatMul_109');
  assert.equal(pairs['lm_head'].target, 'onnx::MatMul_112');
  assert.ok(pairs['layers.1.attn.o_proj'].evidence[0].startsWith("call order: 'layers.1.attn.o_proj' is module 2 of 2 named 'o_proj'"));

  const out = path.join(dir, 'm.onnx');
  const res = await runLora([fixture('lora_linear_qv', 'base.onnx'), '--adapter', ad, '-o', out]);
  assert.equal(res.code, 0, res.err);
  const base = SafetensorsFile.open(fixture('lora_linear_qv', 'base.safetensors'));
  try {
    for (const [m, init, o] of [['layers.0.attn.o_proj', 'onnx::MatMul_103', 32], ['layers.1.attn.o_proj', 'onnx::MatMul_109', 32], ['lm_head', 'onnx::MatMul_112', 64]] as const) {
      const W = base.readFloat64(`${m}.weight`); // [out, in]
      const want = transpose64(addScaled(W, matmul64(t[`${P}${m}.lora_B.weight`].values, t[`${P}${m}.lora_A.weight`].values, o, 2, 32), 1), o, 32);
      close(initValues(out, init), want);
    }
  } finally {
    base.close();
  }
});

test('an adapter on only the second o_proj still finds it: the module list is completed from sibling names', async () => {
  const r = rand(32);
  const A = r([2, 32]);
  const B = r([32, 2]);
  const ad = writePeftAdapter(path.join(tempDir(), 'a'), { r: 2, lora_alpha: 2 }, { [`${P}layers.1.attn.o_proj.lora_A.weight`]: A, [`${P}layers.1.attn.o_proj.lora_B.weight`]: B });
  const plan = await runLora(['plan', fixture('lora_linear_qv', 'base.onnx'), '--adapter', ad, '--json']);
  assert.equal(plan.code, 0, plan.out);
  assert.equal(JSON.parse(plan.out).pairs[0].target, 'onnx::MatMul_109');
});

// ---------------------------------------------------------------- a small model built here

interface Built {
  file: string;
  weights: Record<string, { values: Float64Array; dims: number[] }>;
}

/**
 * x[2,4] → Gemm(W1 [4,6] as [in,out], transB=0) → Gemm(W2 [5,6] as [out,in], transB=1)
 *        → MatMul(Transpose(W3 [3,5])) → y; ids[3] → Gather(E [7,3]) → e.
 * Node scopes keep the module names ('/l1/Gemm', …); initializers have generated names.
 */
function buildModel(dir: string, extra?: (g: onnx.GraphProto, w: Built['weights']) => void): Built {
  const r = rand(40);
  const weights: Built['weights'] = {
    'onnx::Gemm_1': { values: r([4, 6]).values, dims: [4, 6] },
    'onnx::Gemm_2': { values: r([5, 6]).values, dims: [5, 6] },
    'onnx::W_3': { values: r([3, 5]).values, dims: [3, 5] },
    'onnx::Gather_4': { values: r([7, 3]).values, dims: [7, 3] },
  };
  const g = makeGraph(
    [
      makeNode('Gemm', ['x', 'onnx::Gemm_1'], ['h1'], '/l1/Gemm', { transB: 0 }),
      makeNode('Gemm', ['h1', 'onnx::Gemm_2'], ['h2'], '/l2/Gemm', { transB: 1 }),
      makeNode('Transpose', ['onnx::W_3'], ['w3t'], '/l3/Transpose', { perm: [1, 0] }),
      makeNode('MatMul', ['h2', 'w3t'], ['y'], '/l3/MatMul'),
      makeNode('Gather', ['onnx::Gather_4', 'ids'], ['e'], '/emb/Gather'),
    ],
    'g',
    [makeValueInfo('x', DataType.FLOAT, [2, 4]), makeValueInfo('ids', DataType.INT64, [3])],
    [makeValueInfo('y', DataType.FLOAT, [2, 3]), makeValueInfo('e', DataType.FLOAT, [3, 3])],
    Object.entries(weights).map(([name, w]) => makeTensor(name, DataType.FLOAT, w.dims, w.values)),
  );
  extra?.(g, weights);
  const file = writeModel(path.join(dir, 'base.onnx'), makeModel(g, { irVersion: 8, producerName: 'test', opset: 17 }));
  return { file, weights };
}

async function run(file: string): Promise<{ y: Float32Array; e: Float32Array }> {
  const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, -2, 0.5, 3, 0.25, 1, -1, 2]), [2, 4]), ids: new ort.Tensor('int64', BigInt64Array.from([0n, 6n, 3n]), [3]) });
    return { y: out.y.data as Float32Array, e: out.e.data as Float32Array };
  } finally {
    await s.release();
  }
}

test('Gemm transB=0 and transB=1, MatMul through Transpose, Gather embedding: each layout gets the right delta', async () => {
  const dir = tempDir();
  const built = buildModel(dir);
  const r = rand(41);
  const t: Record<string, T> = {
    [`${P}l1.lora_A.weight`]: r([2, 4]), [`${P}l1.lora_B.weight`]: r([6, 2]),
    [`${P}l2.lora_A.weight`]: r([2, 6]), [`${P}l2.lora_B.weight`]: r([5, 2]),
    [`${P}l3.lora_A.weight`]: r([2, 5]), [`${P}l3.lora_B.weight`]: r([3, 2]),
    [`${P}emb.lora_embedding_A`]: r([2, 7]), [`${P}emb.lora_embedding_B`]: r([3, 2]),
  };
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 4 }, t);
  const out = path.join(dir, 'm.onnx');
  const res = await runLora([built.file, '--adapter', ad, '-o', out, '--json']);
  assert.equal(res.code, 0, res.err);
  const ba = (m: string, o: number, i: number) => matmul64(t[`${P}${m}.lora_B.weight`].values, t[`${P}${m}.lora_A.weight`].values, o, 2, i);
  // l1: stored [in,out] (transB=0) → gets (B·A)ᵀ; l2: stored [out,in] → B·A; l3: Transpose(W3) means W3 is [out,in] → B·A
  close(initValues(out, 'onnx::Gemm_1'), addScaled(built.weights['onnx::Gemm_1'].values, transpose64(ba('l1', 6, 4), 6, 4), 2));
  close(initValues(out, 'onnx::Gemm_2'), addScaled(built.weights['onnx::Gemm_2'].values, ba('l2', 5, 6), 2));
  close(initValues(out, 'onnx::W_3'), addScaled(built.weights['onnx::W_3'].values, ba('l3', 3, 5), 2));
  const embDelta = transpose64(matmul64(t[`${P}emb.lora_embedding_B`].values, t[`${P}emb.lora_embedding_A`].values, 3, 2, 7), 3, 7);
  close(initValues(out, 'onnx::Gather_4'), addScaled(built.weights['onnx::Gather_4'].values, embDelta, 2));
  // and ONNX Runtime runs the merged model, giving a different output than the base
  const [a, b] = [await run(built.file), await run(out)];
  assert.ok(relErr(a.y, b.y, 1e-3) > 1e-3 && relErr(a.e, b.e, 1e-3) > 1e-3);
});

test('a shared initializer is refused by default; --shared untie gives the adapted node its own copy; --shared all changes every reader', async () => {
  const dir = tempDir();
  // a second reader of W1: '/other/Gemm' (the exporter deduplicated two equal weights)
  const built = buildModel(dir, (g) => {
    g.node.push(makeNode('Gemm', ['x', 'onnx::Gemm_1'], ['z'], '/other/Gemm', { transB: 0 }));
    g.output.push(makeValueInfo('z', DataType.FLOAT, [2, 6]));
  });
  const r = rand(42);
  const [A, B] = [r([2, 4]), r([6, 2])];
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 2 }, { [`${P}l1.lora_A.weight`]: A, [`${P}l1.lora_B.weight`]: B });
  const refused = await runLora([built.file, '--adapter', ad, '-o', path.join(dir, 'x.onnx')]);
  assert.equal(refused.code, 2);
  assert.match(refused.err, /initializer 'onnx::Gemm_1' \(module 'l1', node '\/l1\/Gemm'\) is also read by \/other\/Gemm .*--shared untie/);
  assert.ok(!fs.existsSync(path.join(dir, 'x.onnx')));

  const merged = addScaled(built.weights['onnx::Gemm_1'].values, transpose64(matmul64(B.values, A.values, 6, 2, 4), 6, 4), 1);
  const untied = path.join(dir, 'untie.onnx');
  const u = await runLora([built.file, '--adapter', ad, '-o', untied, '--shared', 'untie', '--json']);
  assert.equal(u.code, 0, u.err);
  const newName = JSON.parse(u.out).merged[0].target;
  assert.notEqual(newName, 'onnx::Gemm_1');
  close(initValues(untied, newName), merged);
  assert.deepEqual(Array.from(initValues(untied, 'onnx::Gemm_1')), Array.from(Float32Array.from(built.weights['onnx::Gemm_1'].values)));
  const base = await runWithZ(built.file);
  const ut = await runWithZ(untied);
  assert.deepEqual(Array.from(ut.z), Array.from(base.z), 'the other reader keeps the base weights');
  assert.ok(relErr(ut.h1, base.h1, 1e-3) > 1e-3, 'the adapted reader changed');

  const all = path.join(dir, 'all.onnx');
  const a = await runLora([built.file, '--adapter', ad, '-o', all, '--shared', 'all']);
  assert.equal(a.code, 0, a.err);
  close(initValues(all, 'onnx::Gemm_1'), merged);
});

async function runWithZ(file: string): Promise<{ z: Float32Array; h1: Float32Array }> {
  // expose h1 as an output too, to see the adapted reader's own result
  const m = onnx.ModelProto.decode(fs.readFileSync(file));
  m.graph!.output!.push(makeValueInfo('h1', DataType.FLOAT, [2, 6]));
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, -2, 0.5, 3, 0.25, 1, -1, 2]), [2, 4]), ids: new ort.Tensor('int64', BigInt64Array.from([0n, 6n, 3n]), [3]) });
    return { z: out.z.data as Float32Array, h1: out.h1.data as Float32Array };
  } finally {
    await s.release();
  }
}

test('external data stays external: the merged tensor is written to OUT.onnx.data, the input data file is untouched', async () => {
  const dir = tempDir();
  const built = buildModel(dir);
  // move every initializer to external data
  const ext = path.join(dir, 'ext.onnx');
  const m = OnnxModel.load(built.file);
  await saveModel(m, ext, { embeddedLimit: 0, externalizeMinBytes: 1 });
  m.close();
  const dataBefore = fs.readFileSync(`${ext}.data`);
  const r = rand(43);
  const [A, B] = [r([2, 6]), r([5, 2])];
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 2 }, { [`${P}l2.lora_A.weight`]: A, [`${P}l2.lora_B.weight`]: B });
  const out = path.join(dir, 'merged.onnx');
  const res = await runLora([ext, '--adapter', ad, '-o', out]);
  assert.equal(res.code, 0, res.err);
  assert.ok(fs.existsSync(`${out}.data`));
  const merged = OnnxModel.load(out);
  try {
    for (const t of merged.graph.initializer) assert.equal(t.data_location, onnx.TensorProto.DataLocation.EXTERNAL, `${t.name} external`);
  } finally {
    merged.close();
  }
  close(initValues(out, 'onnx::Gemm_2'), addScaled(built.weights['onnx::Gemm_2'].values, matmul64(B.values, A.values, 5, 2, 6), 1));
  assert.deepEqual(fs.readFileSync(`${ext}.data`), dataBefore);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no scratch or temporary files left');
  const [a, b] = [await run(ext), await run(out)];
  assert.ok(relErr(a.y, b.y, 1e-3) > 1e-3);
  assert.deepEqual(Array.from(a.e), Array.from(b.e));
});

test('ambiguous call order is an error listing the candidate nodes, and --map settles it', async () => {
  const dir = tempDir();
  const built = buildModel(dir, (g) => {
    // two unnamed linears whose scopes kept only 'proj', and an adapter for one module named 'a.proj' — whose is it?
    for (const [i, n] of ['/proj/MatMul', '/proj_1/MatMul'].entries()) {
      g.initializer.push(makeTensor(`onnx::MatMul_9${i}`, DataType.FLOAT, [3, 3], rand(50 + i)([3, 3]).values));
      g.node.push(makeNode('MatMul', [i ? 'p0' : 'y', `onnx::MatMul_9${i}`], [i ? 'p1' : 'p0'], n));
    }
    g.output.push(makeValueInfo('p1', DataType.FLOAT, [2, 3]));
  });
  const r = rand(44);
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 1, lora_alpha: 1 }, { [`${P}a.proj.lora_A.weight`]: r([1, 3]), [`${P}a.proj.lora_B.weight`]: r([3, 1]) });
  const res = await runLora([built.file, '--adapter', ad, '-o', path.join(dir, 'o.onnx')]);
  assert.equal(res.code, 2);
  assert.match(res.err, /'a\.proj': call order is ambiguous: 2 node\(s\) scoped 'proj' \(\/proj\/MatMul, \/proj_1\/MatMul\) but 1 module\(s\) named 'proj' known/);
  const map = path.join(dir, 'map.json');
  fs.writeFileSync(map, JSON.stringify({ 'a.proj': 'onnx::MatMul_91' }));
  const ok = await runLora([built.file, '--adapter', ad, '-o', path.join(dir, 'o.onnx'), '--map', map, '--json']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).merged[0].target, 'onnx::MatMul_91');
});

test('dynamo-style nodes: the module comes from metadata_props name scopes when names are generated', async () => {
  const dir = tempDir();
  const built = buildModel(dir, (g) => {
    g.initializer.push(makeTensor('val_12', DataType.FLOAT, [3, 3], rand(70)([3, 3]).values));
    g.node.push(makeNode('MatMul', ['y', 'val_12'], ['q'], 'node_MatMul_7', {}, { metadata: { 'pkg.torch.onnx.name_scopes': "['', 'blocks.0', 'blocks.0.mlp', 'matmul']" } }));
    g.output.push(makeValueInfo('q', DataType.FLOAT, [2, 3]));
  });
  const r = rand(71);
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 1, lora_alpha: 1 }, { [`${P}blocks.0.mlp.lora_A.weight`]: r([1, 3]), [`${P}blocks.0.mlp.lora_B.weight`]: r([3, 1]) });
  const plan = await runLora(['plan', built.file, '--adapter', ad, '--json']);
  assert.equal(plan.code, 0, plan.out);
  const pair = JSON.parse(plan.out).pairs[0];
  assert.equal(pair.target, 'val_12');
  assert.ok(pair.evidence.some((e: string) => e.startsWith("node metadata name scope of 'node_MatMul_7'")));
});

test('dynamo export of a Llama-style model: every adapted module matched by its name scopes (weights val_N, the fx node last)', async () => {
  // As torch.onnx.export(dynamo=True) writes a Hugging Face Llama: generated weight names, module paths only in
  // metadata, whose last entry is the fx node ('linear', 'linear_1', …), not a module.
  const dir = tempDir();
  const layers = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  const r0 = rand(90);
  const built = buildModel(dir, (g) => {
    let x = 'y';
    let v = 90;
    for (const layer of [0, 1]) {
      for (const [k, proj] of layers.entries()) {
        const w = `val_${v++}`;
        g.initializer.push(makeTensor(w, DataType.FLOAT, [3, 3], r0([3, 3]).values));
        const out = `linear_${layer * 4 + k}`;
        const scopes = ['', 'model', `model.layers.${layer}`, `model.layers.${layer}.self_attn`, `model.layers.${layer}.self_attn.${proj}`, out];
        g.node.push(makeNode('MatMul', [x, w], [out], `node_${out}`, {}, {
          metadata: {
            'pkg.torch.onnx.name_scopes': `[${scopes.map((s) => `'${s}'`).join(', ')}]`,
            'pkg.torch.onnx.class_hierarchy': "['transformers.LlamaForCausalLM', 'transformers.LlamaModel', 'transformers.LlamaDecoderLayer', 'transformers.LlamaAttention', 'torch.nn.modules.linear.Linear', 'aten.linear.default']",
          },
        }));
        x = out;
      }
    }
    g.output.push(makeValueInfo(x, DataType.FLOAT, [2, 3]));
  });
  const r = rand(91);
  const t: Record<string, T> = {};
  for (const layer of [0, 1]) for (const proj of ['q_proj', 'v_proj']) {
    t[`${P}model.layers.${layer}.self_attn.${proj}.lora_A.weight`] = r([1, 3]);
    t[`${P}model.layers.${layer}.self_attn.${proj}.lora_B.weight`] = r([3, 1]);
  }
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 1, lora_alpha: 1, target_modules: ['q_proj', 'v_proj'] }, t);
  const plan = await runLora(['plan', built.file, '--adapter', ad, '--json']);
  assert.equal(plan.code, 0, plan.err + plan.out);
  const pairs = Object.fromEntries(JSON.parse(plan.out).pairs.map((p: { module: string; target: string }) => [p.module, p.target]));
  assert.deepEqual(pairs, {
    'model.layers.0.self_attn.q_proj': 'val_90',
    'model.layers.0.self_attn.v_proj': 'val_92',
    'model.layers.1.self_attn.q_proj': 'val_94',
    'model.layers.1.self_attn.v_proj': 'val_96',
  });
});
