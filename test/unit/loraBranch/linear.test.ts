/**
 * Linear LoRA branches built as real ONNX models: MatMul and Gemm bases with
 * and without bias, scales as Mul or Div, several adapters, exporter noise on
 * the path, float16. Each one: scan reports it with rank/scale/adapters, fuse
 * folds it, the folded weight is the float64 merge rounded once, no branch
 * node is left, and ONNX Runtime gives the same output before and after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from '../helpers/fixtures';
import { DataType, initializer, loraCandidates, opCount, run, scaledDiff, scanAndFuse } from './helpers';
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
  for (const [k, v] of Object.entries(expectDetails)) assert.equal(cand.details?.[k], v, `details.${k}`);
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
