/**
 * Linear LoRA branches built as real ONNX models: MatMul and Gemm bases with
 * and without bias, scales as Mul or Div, several adapters, exporter noise on
 * the path, float16. Each one: scan reports it with rank/scale/adapters, fuse
 * folds it, the folded weight is the float64 merge rounded once, no branch
 * node is left, and ONNX Runtime gives the same output before and after.
 */
import type { CandidateDetails } from '../../../extension/engine/fusion/candidate';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from '../helpers/fixtures';
import { DataType, GraphSpec, initializer, loraCandidates, opCount, randn, run, scaledDiff, scanAndFuse } from './helpers';
import { buildLinearCase, type LinearCase } from './linearModels';

async function checkFolds(c: LinearCase, expectDetails: Record<string, unknown>, outputTolerance = 1e-6): Promise<void> {
  const built = buildLinearCase(c);
  const before = await run(built.bytes, built.feeds);
  const { candidates, report, model, bytes } = scanAndFuse(built.bytes);
  const lora = loraCandidates(candidates);
  assert.equal(lora.length, 1, JSON.stringify(candidates.map((x) => x.id)));
  const cand = lora[0];
  assert.equal(cand.blocked, null);
  assert.equal(cand.nodes[0], built.baseNodeName, 'the base node comes first');
  for (const [k, v] of Object.entries(expectDetails)) assert.equal(cand.details?.[k as keyof CandidateDetails], v, `details.${k}`);
  assert.ok(report.applied.some((a) => a.id === cand.id), `applied: ${JSON.stringify(report.skipped)}`);

  // The branch is gone: only the base layer remains, the nodes the candidate listed after it are removed.
  const left = new Set(model.graph.node.map((n) => n.name));
  for (const name of cand.nodes.slice(c.base === 'MatMul' && c.bias ? 2 : 1)) assert.ok(!left.has(name), `${name} removed`);
  assert.equal(opCount(model, 'MatMul', 'Gemm'), 1);
  assert.equal(opCount(model, 'Mul', 'Div', 'Identity', 'Dropout', 'Cast', 'Transpose', 'Reshape'), 0);
  assert.equal(model.graph.initializer.filter((t) => t.name?.includes('lora')).length, 0, 'LoRA weights removed');

  // One rounding of the float64 merge: within half an ulp of the dtype.
  const ulp = built.feeds.x.dtype === DataType.FLOAT16 ? 2 ** -11 : 2 ** -24;
  const folded = initializer(model, built.weightName);
  assert.ok(maxRelDiff(folded, built.expected, 1e-30) <= ulp, `weight off by ${maxRelDiff(folded, built.expected, 1e-30)} relative`);

  const after = await run(bytes, built.feeds);
  const [name] = Object.keys(before);
  assert.deepEqual(Object.keys(after), [name], 'graph output name kept');
  const diff = scaledDiff(after[name], before[name]);
  assert.ok(diff < outputTolerance, `output moved by ${diff}`);
}

test('MatMul base with bias Add, scale as Mul (the PEFT / TorchScript form)', () =>
  checkFolds({ base: 'MatMul', bias: true, adapters: [{ r: 2, scale: { op: 'Mul', s: 2 } }] }, { rank: 2, scale: 2, adapters: 1, base: 'MatMul' }));

test('MatMul base without bias, no scale node', () =>
  checkFolds({ base: 'MatMul', adapters: [{ r: 3, scale: null }] }, { rank: 3, scale: 1, adapters: 1, base: 'MatMul' }));

test('Gemm base (transB=1) with bias, Gemm low-rank layers, scale written as Div', () =>
  checkFolds({ base: 'Gemm', bias: true, adapters: [{ r: 2, scale: { op: 'Div', s: 4 }, op: 'Gemm' }] }, { rank: 2, scale: 4, adapters: 1, base: 'Gemm' }));

test('Gemm base (transB=0, alpha=0.5) without bias, MatMul low-rank layers', () =>
  checkFolds({ base: 'Gemm', transB: false, gemmAlpha: 0.5, adapters: [{ r: 2, scale: { op: 'Mul', s: 1.5 } }] }, { rank: 2, base: 'Gemm' }));

test('two adapters chained on one base (different ranks and scales)', () =>
  checkFolds(
    { base: 'MatMul', bias: true, adapters: [{ r: 2, scale: { op: 'Mul', s: 2 } }, { r: 3, scale: { op: 'Div', s: 0.5 } }] },
    { rank: '2+3', scale: '2+0.5', adapters: 2 },
  ));

test('two adapters summed before the Add to the base', () =>
  checkFolds({ base: 'Gemm', bias: true, sumFirst: true, adapters: [{ r: 2, scale: { op: 'Mul', s: 2 } }, { r: 2, scale: { op: 'Mul', s: 3 }, op: 'Gemm' }] }, { adapters: 2, rank: 2 }));

test('Identity, Dropout, no-op Cast, Transpose and Reshape pairs on the path', () =>
  checkFolds({ base: 'MatMul', bias: true, noise: true, adapters: [{ r: 2, scale: { op: 'Mul', s: 2 } }] }, { rank: 2, scale: 2 }));

test('float16 model: computed in float64, rounded once to float16', () =>
  checkFolds({ base: 'MatMul', bias: true, dtype: DataType.FLOAT16, adapters: [{ r: 4, scale: { op: 'Mul', s: 2 } }] }, { rank: 4, scale: 2 }, 2e-3));

test('Reshape to 2-D around Gemm low-rank layers (the aten.linear decomposition) folds when the shapes are static', async () => {
  const g = new GraphSpec();
  const W = g.weight('w', [8, 6]);
  const A = g.weight('lora_A', [2, 8]); // Gemm transB=1: [r, in]
  const B = g.weight('lora_B', [6, 2]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  let h = g.op('Reshape', 'flat', ['x', g.constant('flat_shape', [2], [-1, 8], DataType.INT64)]);
  h = g.op('Gemm', 'A', [h, 'lora_A'], { transB: 1 });
  h = g.op('Gemm', 'B', [h, 'lora_B'], { transB: 1, alpha: { float: 0.5 } });
  h = g.op('Reshape', 'unflat', [h, g.constant('back_shape', [3], [2, 3, 6], DataType.INT64)]);
  const y = g.op('Add', 'add', [base, h]);
  const bytes = g.model([{ name: 'x', dims: [2, 3, 8] }], [{ name: y }]);
  const feeds = { x: { dims: [2, 3, 8], values: randn(48, 3) } };
  const before = await run(bytes, feeds);
  const { candidates, model, bytes: fused } = scanAndFuse(bytes);
  const [c] = loraCandidates(candidates);
  assert.equal(c.blocked, null);
  assert.equal(c.details?.scale, 0.5, 'Gemm alpha is part of the scale');
  assert.equal(opCount(model, 'Reshape', 'Gemm'), 0);
  const expected = W.map((v, k) => {
    const [i, o] = [Math.floor(k / 6), k % 6];
    let acc = 0;
    for (let r = 0; r < 2; r++) acc += A[r * 8 + i] * B[o * 2 + r];
    return v + 0.5 * acc;
  });
  assert.ok(maxRelDiff(initializer(model, 'w'), expected, 1e-30) <= 2 ** -24);
  const after = await run(fused, feeds);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6);
});

test('a base weight shared with another layer is copied, the other layer keeps the original', async () => {
  const g = new GraphSpec();
  const W = g.weight('shared.weight', [8, 8]);
  g.weight('lora_A', [8, 2]);
  g.weight('lora_B', [2, 8]);
  const base = g.op('MatMul', 'base', ['x', 'shared.weight']);
  const h = g.op('MatMul', 'B', [g.op('MatMul', 'A', ['x', 'lora_A']), 'lora_B']);
  const merged = g.op('Add', 'add', [base, h]);
  const y = g.op('MatMul', 'tied', [merged, 'shared.weight']);
  const bytes = g.model([{ name: 'x', dims: [3, 8] }], [{ name: y }]);
  const feeds = { x: { dims: [3, 8], values: randn(24, 8) } };
  const before = await run(bytes, feeds);
  const { model, bytes: fused, report } = scanAndFuse(bytes);
  const change = report.applied.find((a) => a.pattern === 'lora-branch')?.changedTensors[0];
  assert.equal(change?.storage, 'copied');
  assert.deepEqual(initializer(model, 'shared.weight'), W, 'original untouched');
  assert.equal(model.graph.node.find((n) => n.name === 'tied')?.input?.[1], 'shared.weight');
  assert.equal(model.graph.node.find((n) => n.name === 'base')?.input?.[1], change?.after.name);
  const after = await run(fused, feeds);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6);
});

test('a branch subtracted from the base (Sub) folds with a negative scale', async () => {
  const g = new GraphSpec();
  const W = g.weight('w', [8, 6]);
  const At = g.weight('lora_A.T', [8, 2]);
  const Bt = g.weight('lora_B.T', [2, 6]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  const h = g.op('MatMul', 'B', [g.op('Identity', 'dropout', [g.op('MatMul', 'A', ['x', 'lora_A.T'])]), 'lora_B.T']);
  const y = g.op('Sub', 'sub', [base, g.op('Div', 'div', [h, g.constant('d', [], [4])])]);
  const bytes = g.model([{ name: 'x', dims: [4, 8] }], [{ name: y }]);
  const feeds = { x: { dims: [4, 8], values: randn(32, 21) } };
  const before = await run(bytes, feeds);
  const { candidates, model, bytes: fused } = scanAndFuse(bytes);
  const [c] = loraCandidates(candidates);
  assert.equal(c.blocked, null);
  assert.equal(c.details?.scale, -0.25);
  assert.equal(opCount(model, 'MatMul', 'Sub', 'Div', 'Identity'), 1);
  const expected = W.map((v, k) => {
    const [i, o] = [Math.floor(k / 6), k % 6];
    return v - 0.25 * (At[i * 2] * Bt[o] + At[i * 2 + 1] * Bt[6 + o]);
  });
  assert.ok(maxRelDiff(initializer(model, 'w'), expected, 1e-30) <= 2 ** -24);
  const after = await run(fused, feeds);
  assert.deepEqual(Object.keys(after), [y]);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6);
});

test('dynamo-style Transpose(weight) parameters and TorchScript de-duplicated (Identity) parameters fold, modules from parameter names', async () => {
  const g = new GraphSpec();
  const x = 'x';
  const outs: string[] = [];
  for (const proj of ['q_proj', 'k_proj']) {
    const p = `model.layers.0.${proj}`;
    g.weight(`${p}.base_layer.weight`, [6, 8]); // PyTorch layout [out, in]
    g.weight(`${p}.base_layer.bias`, [6]);
    g.weight(`${p}.lora_A.default.weight`, [2, 8]);
    // k_proj's B equals q_proj's, so the exporter kept one tensor and an Identity
    if (proj === 'q_proj') g.weight(`${p}.lora_B.default.weight`, [6, 2]);
    const bWeight = proj === 'q_proj' ? `${p}.lora_B.default.weight` : g.op('Identity', `${p}/dedup`, ['model.layers.0.q_proj.lora_B.default.weight']);
    const wT = g.op('Transpose', `${p}/wT`, [`${p}.base_layer.weight`], { perm: [1, 0] });
    const aT = g.op('Transpose', `${p}/aT`, [`${p}.lora_A.default.weight`], { perm: [1, 0] });
    const bT = g.op('Transpose', `${p}/bT`, [bWeight], { perm: [1, 0] });
    const base = g.op('Add', `${p}/base/Add`, [g.op('MatMul', `${p}/base/MatMul`, [x, wT]), `${p}.base_layer.bias`]);
    const h = g.op('Mul', `${p}/Mul`, [g.op('MatMul', `${p}/B`, [g.op('MatMul', `${p}/A`, [x, aT]), bT]), g.constant(`${p}/s`, [], [2])]);
    outs.push(g.op('Add', `${p}/Add`, [base, h]));
  }
  const y = g.op('Add', 'sum', outs);
  const bytes = g.model([{ name: 'x', dims: [2, 3, 8] }], [{ name: y }]);
  const feeds = { x: { dims: [2, 3, 8], values: randn(48, 6) } };
  const before = await run(bytes, feeds);
  const { candidates, model, bytes: fused, report } = scanAndFuse(bytes);
  const lora = loraCandidates(candidates);
  assert.deepEqual(lora.map((c) => [c.blocked, c.modules]), [[null, ['model.layers.0.q_proj']], [null, ['model.layers.0.k_proj']]]);
  assert.equal(report.applied.length, 2);
  assert.equal(opCount(model, 'Transpose', 'Identity', 'Mul'), 0, 'the weight subgraphs are replaced by the merged initializers');
  assert.equal(opCount(model, 'MatMul'), 2);
  assert.ok(!model.graph.initializer.some((t) => t.name?.includes('lora')), 'LoRA parameters removed');
  const after = await run(fused, feeds);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6, `${scaledDiff(after[y], before[y])}`);
});
