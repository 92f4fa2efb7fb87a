/**
 * Conv / ConvTranspose folds on models built here, each checked against ONNX
 * Runtime (original vs fused) and, for the tensors, against a float64
 * reference rounded once to the model's type.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures';
import { DataType } from '../../../extension/engine/onnx/proto';
import { bfloat16FromBits, float16FromBits, float64ToBytes, numElements } from '../../../extension/engine/onnx/dtypes';
import { buildModel, candidate, countOps, initializerValues, positive, randn, writeModel, type ModelSpec, type TensorSpec } from './helpers/build';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { fuseCandidates } from '../../../extension/engine/fusion/fuse';
import { fuseAndCompare, fuseFileWith } from './helpers/fuseHelpers';
import { relativeToMax } from './helpers/numbers';

const dir = tempDir('modelfuse-convfolds-');

interface ConvBnOptions {
  op?: 'Conv' | 'ConvTranspose';
  input: number[];
  weight: number[];
  group?: number;
  bias?: boolean;
  dtype?: number;
  opset?: number;
  irVersion?: number;
  epsilon?: number;
  relu?: boolean;
  /** BN scale 1 / bias 0 (BatchNorm without affine). */
  noAffine?: boolean;
  seed?: number;
}

function outChannels(o: ConvBnOptions): number {
  return o.op === 'ConvTranspose' ? o.weight[1] * (o.group ?? 1) : o.weight[0];
}

function convBnParams(o: ConvBnOptions): { conv: TensorSpec[]; bn: TensorSpec[] } {
  const c = outChannels(o);
  const seed = o.seed ?? 1;
  const dtype = o.dtype ?? DataType.FLOAT;
  const conv: TensorSpec[] = [{ name: 'conv.weight', dims: o.weight, values: randn(numElements(o.weight), seed, 0.5), dtype }];
  if (o.bias) conv.push({ name: 'conv.bias', dims: [c], values: randn(c, seed + 1, 0.3), dtype });
  const bn: TensorSpec[] = [
    { name: 'bn.weight', dims: [c], values: o.noAffine ? new Float64Array(c).fill(1) : randn(c, seed + 2, 0.5, 1), dtype },
    { name: 'bn.bias', dims: [c], values: o.noAffine ? new Float64Array(c) : randn(c, seed + 3, 0.2), dtype },
    { name: 'bn.running_mean', dims: [c], values: randn(c, seed + 4, 0.3), dtype },
    { name: 'bn.running_var', dims: [c], values: positive(c, seed + 5), dtype },
  ];
  return { conv, bn };
}

function convBnSpec(o: ConvBnOptions): ModelSpec {
  const dtype = o.dtype ?? DataType.FLOAT;
  const { conv, bn } = convBnParams(o);
  const convAttrs: Record<string, number | number[]> = { group: o.group ?? 1 };
  const bnAttrs = o.epsilon !== undefined ? { epsilon: { float: o.epsilon } } : undefined;
  return {
    opset: o.opset,
    irVersion: o.irVersion,
    inputs: [{ name: 'x', dims: o.input, dtype }],
    outputs: [{ name: 'y', dtype }],
    initializers: [...conv, ...bn],
    nodes: [
      { op: o.op ?? 'Conv', name: 'conv', inputs: ['x', 'conv.weight', ...(o.bias ? ['conv.bias'] : [])], outputs: ['c'], attrs: convAttrs },
      { op: 'BatchNormalization', name: 'bn', inputs: ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: o.relu ? ['b'] : ['y'], attrs: bnAttrs },
      ...(o.relu ? [{ op: 'Relu', name: 'relu', inputs: ['b'], outputs: ['y'] }] : []),
    ],
  };
}

/** The exact folded tensors in float64, written independently of the engine: per output channel o. */
function referenceFold(o: ConvBnOptions): { weight: Float64Array; bias: Float64Array } {
  const { conv, bn } = convBnParams(o);
  const eps = Math.fround(o.epsilon ?? 1e-5);
  const rounded = (t: TensorSpec): Float64Array => roundTo(t.values, t.dtype ?? DataType.FLOAT);
  const w = rounded(conv[0]);
  const b = o.bias ? rounded(conv[1]) : new Float64Array(outChannels(o));
  const [gamma, beta, mean, variance] = bn.map(rounded);
  const c = outChannels(o);
  const s = Float64Array.from({ length: c }, (_, i) => gamma[i] / Math.sqrt(variance[i] + eps));
  const weight = new Float64Array(w.length);
  const g = o.group ?? 1;
  const [d0, d1] = o.weight;
  const k = w.length / (d0 * d1);
  for (let a = 0; a < d0; a++) {
    for (let j = 0; j < d1; j++) {
      const channel = o.op === 'ConvTranspose' ? Math.floor(a / (d0 / g)) * d1 + j : a;
      for (let e = 0; e < k; e++) weight[(a * d1 + j) * k + e] = w[(a * d1 + j) * k + e] * s[channel];
    }
  }
  const bias = Float64Array.from({ length: c }, (_, i) => (b[i] - mean[i]) * s[i] + beta[i]);
  return { weight, bias };
}

function roundTo(values: ArrayLike<number>, dtype: number): Float64Array {
  const bytes = float64ToBytes(values, dtype);
  const view = new DataView(bytes.buffer);
  const size = bytes.length / values.length;
  return Float64Array.from({ length: values.length }, (_, i) =>
    size === 4 ? view.getFloat32(i * 4, true) : size === 8 ? view.getFloat64(i * 8, true) : decode16(view.getUint16(i * 2, true), dtype),
  );
}

function decode16(bits: number, dtype: number): number {
  return dtype === DataType.FLOAT16 ? float16FromBits(bits) : bfloat16FromBits(bits);
}

async function checkConvBn(name: string, o: ConvBnOptions, tolerance = 1e-5): Promise<void> {
  const pattern = o.op === 'ConvTranspose' ? 'convtranspose-bn' : o.relu ? 'conv-bn-relu' : 'conv-bn';
  const nodes = o.relu ? ['conv', 'bn', 'relu'] : ['conv', 'bn'];
  const x = { dims: o.input, values: randn(numElements(o.input), 99), dtype: o.dtype };
  const r = await fuseAndCompare(dir, name, convBnSpec(o), [candidate(pattern, nodes, ['conv', 'bn', 'relu'].slice(0, nodes.length))], { x }, tolerance);
  assert.equal(r.report.applied.length, 1, `${name}: ${JSON.stringify(r.report.skipped)}`);
  assert.equal(countOps(r.model, 'BatchNormalization'), 0);
  assertFoldedExactly(name, r.model, o);
  r.model.close();
}

/** The fused tensors are the float64 reference rounded once to the model's type: bit for bit. */
function assertFoldedExactly(name: string, model: OnnxModel, o: ConvBnOptions): void {
  const dtype = o.dtype ?? DataType.FLOAT;
  const ref = referenceFold(o);
  const conv = model.graph.node!.find((n) => n.name === 'conv')!;
  for (const [slot, expected] of [[1, ref.weight], [2, ref.bias]] as const) {
    const t = model.graph.initializer!.find((i) => i.name === conv.input![slot])!;
    assert.equal(t.data_type, dtype, `${name}: tensor type kept`);
    assert.deepEqual(Buffer.from(model.tensorBytes(t)), Buffer.from(float64ToBytes(expected, dtype)), `${name}: ${t.name} equals the float64 reference rounded once`);
  }
}

test('conv-bn-relu, 2-D with bias: tensors exact, ONNX Runtime output unchanged, ReLU stays a node', async () => {
  await checkConvBn('conv2d', { input: [2, 3, 8, 8], weight: [5, 3, 3, 3], bias: true, relu: true });
});

test('conv-bn without a Conv bias: a bias is added (named after the weight)', async () => {
  const o: ConvBnOptions = { input: [1, 3, 6, 6], weight: [4, 3, 3, 3] };
  await checkConvBn('nobias', o);
  const fused = await fuseFileWith(writeModel(dir, 'nobias2.onnx', convBnSpec(o)), [candidate('conv-bn', ['conv', 'bn'])]);
  const bias = fused.report.applied[0].changedTensors.find((c) => c.role === 'bias')!;
  assert.equal(bias.storage, 'added');
  assert.equal(bias.before, null);
  assert.equal(bias.after.name, 'conv.bias');
  assert.deepEqual(bias.after.dims, [4]);
  fused.model.close();
});

test('Conv1d, Conv3d, depthwise and grouped Conv + BN', async () => {
  await checkConvBn('conv1d', { input: [2, 4, 10], weight: [6, 4, 3], bias: true });
  await checkConvBn('conv3d', { input: [1, 2, 4, 5, 5], weight: [3, 2, 2, 3, 3], bias: true });
  await checkConvBn('depthwise', { input: [1, 6, 7, 7], weight: [6, 1, 3, 3], group: 6, relu: true });
  await checkConvBn('grouped', { input: [1, 6, 5, 5], weight: [9, 2, 3, 3], group: 3, bias: true });
});

test('grouped ConvTranspose + BN (groups=2 and 3): matches ONNX Runtime, where column-only scaling would not', async () => {
  const o: ConvBnOptions = { op: 'ConvTranspose', input: [1, 4, 5, 5], weight: [4, 3, 3, 3], group: 2, bias: true };
  await checkConvBn('convtranspose-g2', o);
  await checkConvBn('convtranspose-g3', { op: 'ConvTranspose', input: [2, 6, 4, 4], weight: [6, 2, 2, 2], group: 3 });
  await checkConvBn('convtranspose-g1', { op: 'ConvTranspose', input: [1, 3, 4, 4], weight: [3, 5, 3, 3], bias: true });

  // The layout matters: scaling W[:, j] by s[j] (PyTorch's fuse_conv_bn_weights for transposed convs) is wrong for groups > 1.
  const ref = referenceFold(o);
  const { conv, bn } = convBnParams(o);
  const s = Array.from({ length: 6 }, (_, i) => Number(bn[0].values[i]) / Math.sqrt(Number(bn[3].values[i]) + Math.fround(1e-5)));
  const naive = Float64Array.from(conv[0].values, (v, idx) => v * s[Math.floor(idx / 9) % 3]);
  assert.ok(relativeToMax(naive, ref.weight) > 1e-2, 'the test model distinguishes the correct layout from column-only scaling');
});

test('any epsilon, BN without affine parameters (scale 1, bias 0)', async () => {
  await checkConvBn('eps', { input: [1, 2, 5, 5], weight: [3, 2, 3, 3], epsilon: 1e-3, bias: true });
  await checkConvBn('noaffine', { input: [1, 2, 5, 5], weight: [3, 2, 3, 3], noAffine: true, epsilon: 0.1 });
});

test('float16 model: stays float16, folded tensors are the float64 reference rounded once, ONNX Runtime agrees', async () => {
  await checkConvBn('fp16', { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, dtype: DataType.FLOAT16, relu: true }, 2e-2);
  await checkConvBn('fp16-convtranspose', { op: 'ConvTranspose', input: [1, 4, 4, 4], weight: [4, 2, 3, 3], group: 2, dtype: DataType.FLOAT16 }, 2e-2);
});

test('bfloat16 Conv + BN: stays bfloat16, folded tensors are the float64 reference rounded once', async () => {
  // ONNX Runtime has no CPU kernels for bfloat16 Conv, so only the numbers are checked here (Gemm in bf16: linear tests).
  const o: ConvBnOptions = { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, dtype: DataType.BFLOAT16 };
  const fused = await fuseFileWith(writeModel(dir, 'bf16.onnx', convBnSpec(o)), [candidate('conv-bn', ['conv', 'bn'])]);
  assert.equal(fused.report.applied.length, 1);
  assertFoldedExactly('bf16', fused.model, o);
  fused.model.close();
});

test('float32 weights with float64 arithmetic: one rounding, not two', async () => {
  // Values where float32 intermediate arithmetic would round differently from the exact result are common;
  // the bit-exact comparison in assertFoldedExactly holds for every element.
  await checkConvBn('fp32-exact', { input: [1, 8, 4, 4], weight: [16, 8, 3, 3], bias: true, seed: 7 });
});

test('opset 9 model (BatchNormalization without training_mode, IR 4)', async () => {
  await checkConvBn('opset9', { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, opset: 9, irVersion: 4, relu: true });
});

test('weights as Constant nodes (tf2onnx style): folded into new initializers, the Constant nodes removed', async () => {
  const o: ConvBnOptions = { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true };
  const spec = convBnSpec(o);
  spec.constants = spec.initializers;
  spec.initializers = [];
  const x = { dims: o.input, values: randn(numElements(o.input), 5) };
  const r = await fuseAndCompare(dir, 'constants', spec, [candidate('conv-bn', ['conv', 'bn'])], { x });
  assert.equal(r.report.applied.length, 1, JSON.stringify(r.report.skipped));
  assert.equal(countOps(r.model, 'Constant'), 0, 'no dangling Constant nodes');
  assert.deepEqual(r.model.graph.initializer!.map((t) => t.name).sort(), ['conv.bias_fused', 'conv.weight_fused']);
  r.model.close();
});

test('conv-add and conv-mul: per-channel constants of every broadcastable shape fold into the Conv', async () => {
  const cases: { op: 'Add' | 'Mul'; dims: number[]; bias: boolean; dtype?: number }[] = [
    { op: 'Add', dims: [4, 1, 1], bias: true },
    { op: 'Add', dims: [1, 4, 1, 1], bias: false },
    { op: 'Add', dims: [], bias: true },
    { op: 'Mul', dims: [4, 1, 1], bias: true },
    { op: 'Mul', dims: [1, 4, 1, 1], bias: false },
    { op: 'Mul', dims: [1], bias: true },
    { op: 'Mul', dims: [4, 1, 1], bias: true, dtype: DataType.FLOAT16 },
  ];
  for (const [i, c] of cases.entries()) {
    const dtype = c.dtype ?? DataType.FLOAT;
    const spec: ModelSpec = {
      inputs: [{ name: 'x', dims: [1, 3, 6, 6], dtype }],
      outputs: [{ name: 'y', dtype }],
      initializers: [
        { name: 'w', dims: [4, 3, 3, 3], values: randn(108, i + 1), dtype },
        ...(c.bias ? [{ name: 'b', dims: [4], values: randn(4, i + 2), dtype }] : []),
        { name: 'k', dims: c.dims, values: randn(numElements(c.dims), i + 3, 1, 0.5), dtype },
      ],
      nodes: [
        { op: 'Conv', name: 'conv', inputs: ['x', 'w', ...(c.bias ? ['b'] : [])], outputs: ['c'] },
        // The constant first for Add: operand order must not matter.
        { op: c.op, name: 'arith', inputs: c.op === 'Add' ? ['k', 'c'] : ['c', 'k'], outputs: ['y'] },
      ],
    };
    const name = `conv-${c.op.toLowerCase()}-${i}`;
    const r = await fuseAndCompare(dir, name, spec, [candidate(c.op === 'Add' ? 'conv-add' : 'conv-mul', ['conv', 'arith'])], { x: { dims: [1, 3, 6, 6], values: randn(108, 50), dtype } }, c.dtype ? 2e-2 : 1e-5);
    assert.equal(r.report.applied.length, 1, `${name}: ${JSON.stringify(r.report.skipped)}`);
    assert.equal(countOps(r.model, c.op), 0, `${name}: ${c.op} folded`);
    const roles = r.report.applied[0].changedTensors.map((t) => t.role).sort();
    assert.deepEqual(roles, c.op === 'Add' ? ['bias'] : c.bias ? ['bias', 'weight'] : ['weight'], `${name}: only the tensors the op touches change`);
    r.model.close();
  }
});

test('conv-add with a constant that varies along a spatial axis is refused, graph untouched', async () => {
  const spec: ModelSpec = {
    inputs: [{ name: 'x', dims: [1, 3, 6, 6] }],
    outputs: [{ name: 'y' }],
    initializers: [
      { name: 'w', dims: [4, 3, 3, 3], values: randn(108, 1) },
      { name: 'k', dims: [4, 4, 1], values: randn(16, 2) },
    ],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['c'] },
      { op: 'Add', name: 'add', inputs: ['c', 'k'], outputs: ['y'] },
    ],
  };
  const r = await fuseAndCompare(dir, 'conv-add-spatial', spec, [candidate('conv-add', ['conv', 'add'])], { x: { dims: [1, 3, 6, 6], values: randn(108, 3) } }, 0);
  assert.equal(r.report.applied.length, 0);
  assert.match(r.report.skipped[0].reason, /varies along axis 2/);
  assert.equal(countOps(r.model, 'Add'), 1);
  r.model.close();
});

test('shared weight: the other reader keeps the original tensor; the folded Conv gets a copy', async () => {
  const o: ConvBnOptions = { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true };
  const spec = convBnSpec(o);
  // A second Conv reads the same weight and bias, without a BN after it: its numbers must not change.
  spec.nodes.push({ op: 'Conv', name: 'conv2', inputs: ['x', 'conv.weight', 'conv.bias'], outputs: ['z'] });
  spec.outputs.push({ name: 'z' });
  const x = { dims: o.input, values: randn(108, 4) };
  const originalWeight = Float64Array.from(convBnParams(o).conv[0].values, (v) => Math.fround(v));
  const r = await fuseAndCompare(dir, 'shared', spec, [candidate('conv-bn', ['conv', 'bn'])], { x });
  const changes = r.report.applied[0].changedTensors;
  assert.deepEqual(changes.map((c) => [c.role, c.storage, c.before?.name, c.after.name]), [
    ['weight', 'copied', 'conv.weight', 'conv.weight_fused'],
    ['bias', 'copied', 'conv.bias', 'conv.bias_fused'],
  ]);
  assert.deepEqual(initializerValues(r.model, 'conv.weight'), originalWeight, 'the shared initializer is unchanged');
  assertFoldedExactly('shared', r.model, o);
  r.model.close();
});

test("a Conv whose output also feeds a second branch is not folded (the branch would see BN's output)", async () => {
  const spec = convBnSpec({ input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true });
  spec.nodes.push({ op: 'Sigmoid', name: 'branch', inputs: ['c'], outputs: ['z'] });
  spec.outputs.push({ name: 'z' });
  const r = await fuseAndCompare(dir, 'branch', spec, [candidate('conv-bn', ['conv', 'bn'])], { x: { dims: [1, 3, 6, 6], values: randn(108, 6) } }, 0);
  assert.equal(r.report.applied.length, 0);
  assert.match(r.report.skipped[0].reason, /output of Conv 'c' is also read by node 'branch'/);
  assert.equal(countOps(r.model, 'BatchNormalization'), 1);
  r.model.close();
});

test('graph outputs in the middle of a sequence: a Conv output that is a graph output blocks the fold; a BN output that is one keeps its name', async () => {
  const convOut = convBnSpec({ input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, relu: true });
  convOut.outputs.push({ name: 'c' });
  const x = { dims: [1, 3, 6, 6], values: randn(108, 7) };
  const blocked = await fuseAndCompare(dir, 'mid-conv', convOut, [candidate('conv-bn-relu', ['conv', 'bn', 'relu'])], { x }, 0);
  assert.equal(blocked.report.applied.length, 0);
  assert.match(blocked.report.skipped[0].reason, /also read by a graph output/);
  blocked.model.close();

  const bnOut = convBnSpec({ input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, relu: true });
  bnOut.outputs.push({ name: 'b' });
  const ok = await fuseAndCompare(dir, 'mid-bn', bnOut, [candidate('conv-bn-relu', ['conv', 'bn', 'relu'])], { x });
  assert.equal(ok.report.applied.length, 1);
  assert.deepEqual(ok.model.graph.output!.map((o) => o.name), ['y', 'b']);
  assert.deepEqual(Object.keys(ok.after).sort(), ['b', 'y']);
  const conv = ok.model.graph.node!.find((n) => n.name === 'conv')!;
  assert.equal(conv.output![0], 'b', 'the Conv now produces the BN output under its name');
  ok.model.close();
});

test('float32 weights edited in place give the same bits whatever the alignment of the loaded bytes, and with overwriting off', () => {
  const o: ConvBnOptions = { input: [1, 4, 6, 6], weight: [8, 4, 3, 3], bias: true, seed: 11 };
  const bytes = buildModel(convBnSpec(o));
  const results: string[] = [];
  for (const shift of [0, 1, 2, 3]) {
    for (const overwriteBuffers of [true, false]) {
      // The same model bytes placed at offset `shift` of a buffer: raw_data views get every alignment mod 4.
      const holder = Buffer.alloc(bytes.length + shift);
      holder.set(bytes, shift);
      const model = OnnxModel.fromBytes('aligned.onnx', holder.subarray(shift));
      const report = fuseCandidates(model, [candidate('conv-bn', ['conv', 'bn'])], { overwriteBuffers });
      assert.equal(report.applied[0].changedTensors[0].storage, overwriteBuffers ? 'overwritten' : 'replaced');
      assertFoldedExactly(`shift ${shift}`, model, o);
      const conv = model.graph.node!.find((n) => n.name === 'conv')!;
      results.push(Buffer.from(model.tensorBytes(model.graph.initializer!.find((t) => t.name === conv.input![1])!)).toString('hex'));
    }
  }
  assert.equal(new Set(results).size, 1);
});

test('float16 Conv with float32 BatchNormalization statistics (opset 15 mixed types): folded into float16 tensors', async () => {
  const o: ConvBnOptions = { input: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, dtype: DataType.FLOAT16, opset: 15 };
  const spec = convBnSpec(o);
  for (const t of spec.initializers!) if (t.name.startsWith('bn.')) t.dtype = DataType.FLOAT;
  const x = { dims: o.input, values: randn(108, 12), dtype: DataType.FLOAT16 };
  const r = await fuseAndCompare(dir, 'fp16-mixed', spec, [candidate('conv-bn', ['conv', 'bn'])], { x }, 2e-2);
  assert.equal(r.report.applied.length, 1, JSON.stringify(r.report.skipped));
  assert.ok(r.model.graph.initializer!.every((t) => t.data_type === DataType.FLOAT16));
  r.model.close();
});
