/**
 * The pieces under the fold: constant evaluation of exporter subgraphs in
 * float64, the Transpose-pair rule (a pair may surround the low-rank layers
 * only if it leaves their feature axis alone), and scan reading no weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, tempDir } from '../helpers/fixtures';
import { DataType, GraphSpec, loraCandidates, scanAndFuse } from './helpers';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { GraphIndex } from '../../../extension/engine/graph/graphIndex';
import { ConstEvaluator } from '../../../extension/engine/lora/graphBranch/constEval';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { loraBranchDetector } from '../../../extension/engine/fusion/patterns/loraBranch';
import type { ITensorProto } from '../../../extension/engine/onnx/proto';

function evaluatorFor(g: GraphSpec, inputs: { name: string; dims: number[] }[] = []): ConstEvaluator {
  const file = path.join(tempDir('lora-eval-'), 'm.onnx');
  fs.writeFileSync(file, g.model(inputs, [{ name: g.nodes[g.nodes.length - 1].outputs[0] }], { opset: 18 }));
  const model = OnnxModel.load(file);
  return new ConstEvaluator(model, new GraphIndex(model.graph));
}

test('a weight norm written as Pow → ReduceSum (axes as input) → Sqrt evaluates like ReduceL2, in float64', () => {
  const g = new GraphSpec();
  g.init('w', [2, 3], [3, 4, 12, 0.5, -1, 2]);
  const sq = g.op('Pow', 'sq', ['w', g.constant('two', [], [2])]);
  const sum = g.op('ReduceSum', 'sum', [sq, g.constant('axes', [1], [1], DataType.INT64)], { keepdims: 0 });
  const norm = g.op('Sqrt', 'norm', [sum]);
  const l2 = g.op('ReduceL2', 'l2', ['w'], { keepdims: 1 });
  const ev = evaluatorFor(g);
  const r = ev.evaluate(norm);
  assert.ok(r.ok);
  assert.deepEqual(r.value.array.dims, [2]);
  assert.deepEqual(Array.from(r.value.array.data), [13, Math.sqrt(0.25 + 1 + 4)]);
  const all = ev.evaluate(l2);
  assert.ok(all.ok);
  assert.deepEqual(all.value.array.dims, [1, 1], 'no axes: every axis, kept');
  assert.equal(all.value.array.data[0], Math.sqrt(9 + 16 + 144 + 0.25 + 1 + 4));
});

test('broadcasting, Unsqueeze/Squeeze, EyeLike, Shape and Cast rounding (float16) are evaluated as ONNX defines them', () => {
  const g = new GraphSpec();
  g.init('col', [2, 1], [1, 2]);
  g.init('row', [3], [10, 20, 30]);
  const sum = g.op('Add', 'bcast', ['col', 'row']);
  const u = g.op('Unsqueeze', 'u', [sum, g.constant('uaxes', [1], [0], DataType.INT64)]);
  const sq = g.op('Squeeze', 'sq', [u, g.constant('saxes', [1], [0], DataType.INT64)]);
  const eye = g.op('EyeLike', 'eye', [g.init('sq3', [3, 3], new Float64Array(9))]);
  const shape = g.op('Shape', 'shape', [u]);
  const half = g.op('Cast', 'half', [g.init('third', [1], [1 / 3], DataType.FLOAT)], { to: DataType.FLOAT16 });
  const ev = evaluatorFor(g);
  const s = ev.evaluate(sq);
  assert.ok(s.ok);
  assert.deepEqual(s.value.array.dims, [2, 3]);
  assert.deepEqual(Array.from(s.value.array.data), [11, 21, 31, 12, 22, 32]);
  const e = ev.evaluate(eye);
  assert.ok(e.ok);
  assert.deepEqual(Array.from(e.value.array.data), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const sh = ev.evaluate(shape);
  assert.ok(sh.ok);
  assert.deepEqual(Array.from(sh.value.array.data), [1, 2, 3]);
  const h = ev.evaluate(half);
  assert.ok(h.ok);
  assert.equal(h.value.dtype, DataType.FLOAT16);
  assert.equal(h.value.array.data[0], 0.333251953125, '1/3 rounded to float16');
});

test('a value depending on a graph input, or on an op that is not evaluated, is not constant, with the reason', () => {
  const g = new GraphSpec();
  g.init('w', [2], [1, 2]);
  const runtime = g.op('Mul', 'scaled', ['w', 'x']);
  const opaque = g.op('Softplus', 'soft', ['w']);
  const last = g.op('Add', 'last', [runtime, opaque]);
  const ev = evaluatorFor(g, [{ name: 'x', dims: [2] }]);
  assert.deepEqual(ev.evaluate(runtime), { ok: false, why: "'x' is a graph input (set at run time)" });
  assert.deepEqual(ev.evaluate(opaque), { ok: false, why: "'soft_out' is computed by Softplus 'soft', which ModelFuse does not evaluate" });
  assert.equal(ev.info(last).ok, false);
});

test('a Transpose pair around the low-rank layers that moves their feature axis is reported, not folded', () => {
  // x [4, 8, 8]: swapping the last two axes makes A and B act on the sequence axis — not a weight update.
  const g = new GraphSpec();
  g.weight('w', [8, 8]);
  g.weight('a', [8, 2]);
  g.weight('b', [2, 8]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  let h = g.op('Transpose', 't1', ['x'], { perm: [0, 2, 1] });
  h = g.op('MatMul', 'B', [g.op('MatMul', 'A', [h, 'a']), 'b']);
  h = g.op('Transpose', 't2', [h], { perm: [0, 2, 1] });
  const y = g.op('Add', 'add', [base, h]);
  const { candidates, report } = scanAndFuse(g.model([{ name: 'x', dims: [4, 8, 8] }], [{ name: y }]));
  const [c] = loraCandidates(candidates);
  assert.match(c.blocked ?? '', /Transpose pair 't1'\/'t2' moves the axis the low-rank layer acts on/);
  assert.equal(report.applied.length, 0);
});

test('lora-branch detection on the PEFT export reads no weight: only the scale constants (one value each)', () => {
  const model = OnnxModel.load(fixture('lora_linear_qv', 'peft_unmerged.onnx'));
  const read: ITensorProto[] = [];
  const original = model.tensorValues.bind(model);
  model.tensorValues = (t: ITensorProto): Float64Array => {
    read.push(t);
    return original(t);
  };
  const lora = scanModel(model, { detectors: [loraBranchDetector] }).candidates;
  assert.equal(lora.length, 4);
  assert.ok(read.length > 0, 'the scales were read');
  for (const t of read) assert.equal((t.dims ?? []).reduce((a: number, b) => a * Number(b), 1), 1, `read '${t.name}'`);
});
