/**
 * linear-bn (Gemm, MatMul, MatMul + Add) and matmul-add on models built
 * here, checked against ONNX Runtime and against float64 references.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures';
import { DataType } from '../../../extension/engine/onnx/proto';
import { float64ToBytes, numElements } from '../../../extension/engine/onnx/dtypes';
import { candidate, countOps, positive, randn, writeModel, type ModelSpec, type NodeSpec, type TensorSpec, type ValueSpec } from './helpers/build';
import { fuseAndCompare, fuseFileWith } from './helpers/fuseHelpers';

const dir = tempDir('modelfuse-linearfolds-');
const IN = 5;
const OUT = 4;
const BATCH = 3;

function bnTensors(seed: number, dtype = DataType.FLOAT): TensorSpec[] {
  return [
    { name: 'bn.weight', dims: [OUT], values: randn(OUT, seed, 0.5, 1), dtype },
    { name: 'bn.bias', dims: [OUT], values: randn(OUT, seed + 1, 0.2), dtype },
    { name: 'bn.running_mean', dims: [OUT], values: randn(OUT, seed + 2, 0.3), dtype },
    { name: 'bn.running_var', dims: [OUT], values: positive(OUT, seed + 3), dtype },
  ];
}

const BN_NODE = (input: string): NodeSpec => ({
  op: 'BatchNormalization', name: 'bn', inputs: [input, 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: ['y'],
});

interface GemmCase {
  transB: 0 | 1;
  alpha?: number;
  beta?: number;
  /** Shape of C, or null for a Gemm without C. */
  c: number[] | null;
  dtype?: number;
}

function gemmBnSpec(g: GemmCase, seed: number): ModelSpec {
  const dtype = g.dtype ?? DataType.FLOAT;
  const attrs: NodeSpec['attrs'] = { transB: g.transB };
  if (g.alpha !== undefined) attrs.alpha = { float: g.alpha };
  if (g.beta !== undefined) attrs.beta = { float: g.beta };
  return {
    inputs: [{ name: 'x', dims: [BATCH, IN], dtype }],
    outputs: [{ name: 'y', dtype }],
    initializers: [
      { name: 'fc.weight', dims: g.transB ? [OUT, IN] : [IN, OUT], values: randn(IN * OUT, seed), dtype },
      ...(g.c ? [{ name: 'fc.bias', dims: g.c, values: randn(numElements(g.c), seed + 1), dtype }] : []),
      ...bnTensors(seed + 2, dtype),
    ],
    nodes: [{ op: 'Gemm', name: 'fc', inputs: ['x', 'fc.weight', ...(g.c ? ['fc.bias'] : [])], outputs: ['h'], attrs }, BN_NODE('h')],
  };
}

const feeds = (dtype = DataType.FLOAT, dims = [BATCH, IN]) => ({ x: { dims, values: randn(numElements(dims), 77), dtype } });

test('linear-bn into Gemm: transB 0 and 1, alpha/beta honoured, C of every broadcastable shape or none', async () => {
  const cases: GemmCase[] = [
    { transB: 1, c: [OUT] },
    { transB: 0, c: [OUT] },
    { transB: 1, c: null },
    { transB: 0, c: null, beta: 0.5 },
    { transB: 1, c: [1, OUT], alpha: 0.7, beta: 1.5 },
    { transB: 0, c: [BATCH, OUT], alpha: 2 },
    { transB: 1, c: [BATCH, 1], beta: 0.25 },
    { transB: 0, c: [], beta: 3 },
    { transB: 1, c: [OUT], beta: 0 },
  ];
  for (const [i, g] of cases.entries()) {
    const name = `gemm-bn-${i}`;
    const r = await fuseAndCompare(dir, name, gemmBnSpec(g, i * 10), [candidate('linear-bn', ['fc', 'bn'], ['fc', 'bn'])], feeds());
    assert.equal(r.report.applied.length, 1, `${name}: ${JSON.stringify(r.report.skipped)}`);
    assert.equal(countOps(r.model, 'BatchNormalization'), 0, name);
    assert.equal(countOps(r.model, 'Gemm'), 1, name);
    r.model.close();
  }
});

test('linear-bn into Gemm in float64 and float16 (ONNX Runtime), and bfloat16 (float64 reference rounded once)', async () => {
  for (const dtype of [DataType.DOUBLE, DataType.FLOAT16]) {
    const r = await fuseAndCompare(dir, `gemm-bn-${dtype}`, gemmBnSpec({ transB: 1, c: [OUT], dtype }, 5), [candidate('linear-bn', ['fc', 'bn'])], feeds(dtype), dtype === DataType.DOUBLE ? 1e-12 : 2e-2);
    assert.equal(r.report.applied.length, 1);
    assert.ok(r.model.graph.initializer!.every((t) => t.data_type === dtype), 'every tensor keeps the model type');
    r.model.close();
  }
  const spec = gemmBnSpec({ transB: 1, c: [OUT], dtype: DataType.BFLOAT16 }, 9);
  const fused = await fuseFileWith(writeModel(dir, 'gemm-bn-bf16.onnx', spec), [candidate('linear-bn', ['fc', 'bn'])]);
  const values = (name: string): Float64Array => {
    const t = spec.initializers!.find((x) => x.name === name)!;
    return bf16Round(t.values);
  };
  const [w, b, gamma, beta, mean, variance] = ['fc.weight', 'fc.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'].map(values);
  const s = gamma.map((g, o) => g / Math.sqrt(variance[o] + Math.fround(1e-5)));
  const expectedW = w.map((v, i) => v * s[Math.floor(i / IN)]);
  const expectedB = b.map((v, o) => v * s[o] + (beta[o] - mean[o] * s[o]));
  const gemm = fused.model.graph.node!.find((n) => n.op_type === 'Gemm')!;
  const bytesOf = (slot: number): Buffer => Buffer.from(fused.model.tensorBytes(fused.model.graph.initializer!.find((t) => t.name === gemm.input![slot])!));
  assert.deepEqual(bytesOf(1), Buffer.from(float64ToBytes(expectedW, DataType.BFLOAT16)));
  assert.deepEqual(bytesOf(2), Buffer.from(float64ToBytes(expectedB, DataType.BFLOAT16)));
  fused.model.close();
});

function bf16Round(values: ArrayLike<number>): Float64Array {
  const bytes = float64ToBytes(values, DataType.BFLOAT16);
  const out = new Float64Array(values.length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < out.length; i++) {
    const f = new DataView(new ArrayBuffer(4));
    f.setUint32(0, view.getUint16(i * 2, true) << 16);
    out[i] = f.getFloat32(0);
  }
  return out;
}

function matmulSpec(
  opts: { add?: boolean; bn?: boolean; inputDims?: (number | string)[]; declareInput?: boolean; biasDims?: number[] },
  seed: number,
): ModelSpec {
  const inputDims = opts.inputDims ?? [BATCH, IN];
  const nodes: NodeSpec[] = [{ op: 'MatMul', name: 'mm', inputs: ['x', 'fc.weight'], outputs: [opts.add || opts.bn ? 'm' : 'y'] }];
  if (opts.add) nodes.push({ op: 'Add', name: 'add', inputs: ['m', 'fc.bias'], outputs: [opts.bn ? 'a' : 'y'] });
  if (opts.bn) nodes.push(BN_NODE(opts.add ? 'a' : 'm'));
  const input: ValueSpec = opts.declareInput === false ? { name: 'x' } : { name: 'x', dims: inputDims };
  return {
    inputs: [input],
    outputs: [{ name: 'y' }],
    initializers: [
      { name: 'fc.weight', dims: [IN, OUT], values: randn(IN * OUT, seed) },
      ...(opts.add ? [{ name: 'fc.bias', dims: opts.biasDims ?? [OUT], values: randn(numElements(opts.biasDims ?? [OUT]), seed + 1) }] : []),
      ...(opts.bn ? bnTensors(seed + 2) : []),
    ],
    nodes,
  };
}

test('linear-bn into MatMul (weight [in, out]), with and without a bias Add: becomes one Gemm', async () => {
  const plain = await fuseAndCompare(dir, 'matmul-bn', matmulSpec({ bn: true }, 1), [candidate('linear-bn', ['mm', 'bn'], ['fc', 'bn'])], feeds());
  assert.equal(plain.report.applied.length, 1, JSON.stringify(plain.report.skipped));
  assert.deepEqual(plain.model.graph.node!.map((n) => n.op_type), ['Gemm']);
  assert.deepEqual(plain.report.applied[0].addedNodes, ['mm_gemm']);
  assert.deepEqual(plain.report.applied[0].removedNodes.sort(), ['bn', 'mm']);
  assert.equal(plain.report.applied[0].changedTensors.find((c) => c.role === 'bias')!.after.name, 'fc.bias', "new bias named after scan's module");
  plain.model.close();

  const withAdd = await fuseAndCompare(dir, 'matmul-add-bn', matmulSpec({ bn: true, add: true }, 2), [candidate('linear-bn', ['mm', 'add', 'bn'])], feeds());
  assert.equal(withAdd.report.applied.length, 1, JSON.stringify(withAdd.report.skipped));
  assert.deepEqual(withAdd.model.graph.node!.map((n) => n.op_type), ['Gemm']);
  withAdd.model.close();
});

test('matmul-add: a 2-D MatMul + bias becomes Gemm; a 3-D one or one of unknown rank is refused with the reason', async () => {
  const ok = await fuseAndCompare(dir, 'mm-add', matmulSpec({ add: true }, 3), [candidate('matmul-add', ['mm', 'add'])], feeds());
  assert.equal(ok.report.applied.length, 1, JSON.stringify(ok.report.skipped));
  assert.deepEqual(ok.model.graph.node!.map((n) => [n.op_type, n.input]), [['Gemm', ['x', 'fc.weight', 'fc.bias']]]);
  assert.deepEqual(ok.report.applied[0].changedTensors, [], 'no tensor changes');
  ok.model.close();

  const row = await fuseAndCompare(dir, 'mm-add-row', matmulSpec({ add: true, biasDims: [1, OUT] }, 3), [candidate('matmul-add', ['mm', 'add'])], feeds());
  assert.equal(row.report.applied.length, 1, JSON.stringify(row.report.skipped));
  row.model.close();

  const batched = await fuseAndCompare(dir, 'mm-add-3d', matmulSpec({ add: true, inputDims: [2, BATCH, IN] }, 4), [candidate('matmul-add', ['mm', 'add'])], feeds(DataType.FLOAT, [2, BATCH, IN]), 0);
  assert.equal(batched.report.applied.length, 0);
  assert.match(batched.report.skipped[0].reason, /'x', the input of MatMul 'mm', is 3-D; this fold is exact only for 2-D inputs/);
  batched.model.close();

  const unknown = await fuseAndCompare(dir, 'mm-add-unknown', matmulSpec({ add: true, declareInput: false }, 5), [candidate('matmul-add', ['mm', 'add'])], feeds(), 0);
  assert.equal(unknown.report.applied.length, 0);
  assert.match(unknown.report.skipped[0].reason, /cannot tell whether 'x', the input of MatMul 'mm', is 2-D \(the model declares no shape for it\)/);
  unknown.model.close();

  const perRow = await fuseAndCompare(dir, 'mm-add-rows', matmulSpec({ add: true, biasDims: [BATCH, OUT] }, 6), [candidate('matmul-add', ['mm', 'add'])], feeds(), 0);
  assert.equal(perRow.report.applied.length, 0, 'a [M, N] bias would broadcast differently in Gemm when M changes');
  perRow.model.close();
});

test('linear-bn on a 3-D MatMul is refused: BN axis 1 is not the feature axis there', async () => {
  const spec = matmulSpec({ bn: true, inputDims: [2, OUT, IN] }, 7);
  const r = await fuseAndCompare(dir, 'matmul-bn-3d', spec, [candidate('linear-bn', ['mm', 'bn'])], feeds(DataType.FLOAT, [2, OUT, IN]), 0);
  assert.equal(r.report.applied.length, 0);
  assert.match(r.report.skipped[0].reason, /3-D/);
  r.model.close();
});
