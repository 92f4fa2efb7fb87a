import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { planInputShapes, planShapes } from '../../../extension/engine/stats/inputShapes';
import { propagateShapes } from '../../../extension/engine/stats/shapePropagation';
import { constantOutputReason, spatialWeakness } from '../../../extension/engine/stats/weakCheck';
import { inputsFromNpy, type ModelInputSpec } from '../../../extension/engine/stats/inputs';
import { parseNpy } from '../../../extension/engine/stats/npy';
import { prepareVerifyInputs } from '../../../extension/engine/stats/verifyInputs';
import { tempDir } from '../helpers/fixtures';
import { npyBytes, writeFpnModel, writeLenetModel, writeTokenModel } from './dynamicModels';
import { GraphBuilder, modelProto } from '../exporters/exporterGraph';
import { writeModel } from '../helpers/onnxBuilder';

const dir = tempDir();
const image: ModelInputSpec = { name: 'x', dtype: 'float32', dims: ['batch', 3, 'height', 'width'] };

function withModel<T>(file: string, body: (m: OnnxModel) => T): T {
  const m = OnnxModel.load(file);
  try {
    return body(m);
  } finally {
    m.close();
  }
}

test('an image input [?, 3, ?, ?] gets batch 1 and 224×224, a multiple of the total stride, and says so', () => {
  const plan = withModel(writeFpnModel(dir), (m) => planInputShapes(m, [image]));
  assert.deepEqual(plan.totalStride, [4, 4]);
  assert.deepEqual(planShapes(plan), { x: [1, 3, 224, 224] });
  assert.deepEqual(plan.inputs[0].sources, ['batch', 'model', 'image', 'image']);
  assert.equal(plan.inputs[0].how, 'batch 1; 224×224: image input, a multiple of the total stride 4');
  assert.deepEqual(plan.guessed, []);
});

test('a stride that does not divide 224 gives the nearest multiple (stride 3 → 225), per axis', () => {
  const file = writeFpnModel(dir, 'fpn3.onnx');
  const plan = withModel(file, (m) => {
    for (const n of m.graph.node) if (n.name === 'conv1') n.attribute!.find((a) => a.name === 'strides')!.ints = [3, 1];
    return planInputShapes(m, [image]);
  });
  assert.deepEqual(plan.totalStride, [6, 2]);
  assert.deepEqual(plan.inputs[0].dims, [1, 3, 222, 224]);
  assert.match(plan.inputs[0].how, /a multiple of the total stride 6×2/);
});

test('a Flatten into a fixed-width Gemm: the side the classifier accepts (28), not 224', () => {
  const spec: ModelInputSpec = { name: 'img', dtype: 'float32', dims: ['n', 1, 'h', 'w'] };
  withModel(writeLenetModel(dir), (m) => {
    assert.match(propagateShapes(m, { img: [1, 1, 224, 224] }).conflicts[0].reason, /Gemm of \[1, 48400\] by \[10, 576\]: inner dimensions 48400 and 576 differ/);
    const plan = planInputShapes(m, [spec]);
    assert.deepEqual(plan.inputs[0].dims, [1, 1, 28, 28]);
    assert.deepEqual(plan.inputs[0].sources, ['batch', 'model', 'fitted', 'fitted']);
    assert.match(plan.inputs[0].how, /28×28: image input, the size near 224 the model's layers accept/);
    assert.equal(propagateShapes(m, planShapes(plan)).conflicts.length, 0);
  });
});

test('token inputs: a sequence of 16; a symbol fixed by a given shape is shared by every input naming it', () => {
  const specs: ModelInputSpec[] = [
    { name: 'ids', dtype: 'int64', dims: ['batch', 'seq'] },
    { name: 'mask', dtype: 'int64', dims: ['batch', 'seq'] },
  ];
  withModel(writeTokenModel(dir), (m) => {
    assert.deepEqual(planShapes(planInputShapes(m, specs)), { ids: [1, 16], mask: [1, 16] });
    const given = planInputShapes(m, specs, { ids: [2, 7] });
    assert.deepEqual(planShapes(given), { ids: [2, 7], mask: [2, 7] });
    assert.equal(given.inputs[0].how, 'as given');
    assert.match(given.inputs[1].how, /7 from the model's declared shapes/);
  });
});

test('a constant the input is combined with fixes its size: a positional embedding [1, 12, 8] gives seq 12', () => {
  const g = new GraphBuilder();
  g.input('h', ['batch', 'seq', 8]).output('y', ['batch', 'seq', 8]);
  g.node('Identity', 'id', ['h'], ['h1']);
  g.node('Add', 'pos', ['h1', g.constant('pos_embed', [1, 12, 8])], ['y']);
  const file = writeModel(path.join(dir, 'pos.onnx'), modelProto(g, { opset: 13, irVersion: 7, producer: 'test' }));
  const spec: ModelInputSpec = { name: 'h', dtype: 'float32', dims: ['batch', 'seq', 8] };
  const plan = withModel(file, (m) => planInputShapes(m, [spec]));
  assert.deepEqual(plan.inputs[0].dims, [1, 12, 8]);
  assert.deepEqual(plan.inputs[0].sources, ['batch', 'constant', 'model']);
  assert.equal(plan.inputs[0].how, 'batch 1; 12: the size of a constant it is combined with');
  assert.deepEqual(plan.guessed, []);
});

test('a dimension nothing decides is 1 and the input is listed as guessed (the extension asks)', () => {
  const spec: ModelInputSpec = { name: 'x', dtype: 'float32', dims: ['batch', 'features'] };
  const plan = withModel(writeTokenModel(dir, 'unrelated.onnx'), (m) => planInputShapes(m, [spec]));
  assert.deepEqual(plan.inputs[0].dims, [1, 1]);
  assert.deepEqual(plan.guessed, ['x']);
  assert.match(plan.inputs[0].how, /dim 1 unknown: 1/);
});

test('weak check: a 1×1 input under 3×3 kernels is found, 224×224 is not', () => {
  withModel(writeFpnModel(dir, 'fpn-weak.onnx'), (m) => {
    const [reason] = spatialWeakness(m, { x: [1, 3, 1, 1] });
    assert.equal(reason, "Conv 'conv1' gets a 1×1 input under a 3×3 window (and 1 more node): at this input size the layers see mostly padding");
    assert.deepEqual(spatialWeakness(m, { x: [1, 3, 224, 224] }), []);
    // 2×2 still has a real neighbourhood at the first layer, but the stride-2 layer after it sees 1×1
    assert.match(spatialWeakness(m, { x: [1, 3, 2, 2] })[0], /^Conv 'conv2' gets a 1×1 input under a 3×3 window/);
  });
});

test('weak check: constant and all-zero outputs; a scalar output is not weak', () => {
  assert.equal(constantOutputReason('y', new Float64Array(6)), "output 'y' is all zeros for this input");
  assert.equal(constantOutputReason('y', Float64Array.of(0.5, 0.5, 0.5)), "output 'y' is constant (0.5) for this input");
  assert.equal(constantOutputReason('y', Float64Array.of(0.5, 0.25)), null);
  assert.equal(constantOutputReason('loss', Float64Array.of(3)), null);
  assert.equal(constantOutputReason('y', Float64Array.of(NaN, NaN)), "output 'y' is constant (NaN) for this input");
});

test('.npy: v1 float32 and int64 read exactly; Fortran order, big-endian, bad magic and truncation are clear errors', () => {
  const f32 = Float32Array.of(1.5, -2, 3.25, 0);
  const a = parseNpy('a.npy', npyBytes('<f4', [2, 2], new Uint8Array(f32.buffer)));
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.shape, [2, 2]);
  assert.deepEqual(Array.from(new Float32Array(a.bytes.buffer)), [1.5, -2, 3.25, 0]);
  const i64 = BigInt64Array.of(7n, -1n, 2n ** 40n);
  const b = parseNpy('b.npy', npyBytes('<i8', [3], new Uint8Array(i64.buffer)));
  assert.deepEqual([b.dtype, b.shape], ['int64', [3]]);
  assert.deepEqual(Array.from(new BigInt64Array(b.bytes.buffer)), [7n, -1n, 2n ** 40n]);
  assert.deepEqual(parseNpy('s.npy', npyBytes('<f8', [], new Uint8Array(8))).shape, []);
  assert.throws(() => parseNpy('f.npy', npyBytes('<f4', [2, 2], new Uint8Array(16), true)), /f\.npy: the array is in Fortran order/);
  assert.throws(() => parseNpy('be.npy', npyBytes('>f4', [1], new Uint8Array(4))), /be\.npy: \.npy element type '>f4' is not a model input type/);
  assert.throws(() => parseNpy('m.npy', Buffer.from('PK\x03\x04 not npy at all')), /m\.npy: not a NumPy \.npy file/);
  assert.throws(() => parseNpy('t.npy', npyBytes('<f4', [2, 2], new Uint8Array(10))), /t\.npy: holds 10 data bytes but float32\[2, 2\] needs 16 \(truncated\)/);
});

test('.npy inputs feed a single-input model, checked against its declaration; two inputs need a safetensors file', () => {
  const file = path.join(dir, 'x.npy');
  fs.writeFileSync(file, npyBytes('<f4', [1, 3, 32, 32], new Uint8Array(4 * 3 * 32 * 32)));
  const p = inputsFromNpy(file, [image]);
  assert.deepEqual(p.tensors[0].dims, [1, 3, 32, 32]);
  assert.deepEqual(p.description, { source: 'file', file, tensors: { x: { dtype: 'float32', shape: [1, 3, 32, 32], values: 'the .npy array' } } });
  assert.throws(() => inputsFromNpy(file, [{ ...image, dims: ['b', 1, 'h', 'w'] }]), /x\.npy: the array has shape \[1, 3, 32, 32\] but model input 'x' is float32\[b, 1, h, w\]/);
  assert.throws(() => inputsFromNpy(file, [image, { ...image, name: 'y' }]), /a \.npy file holds one array, but the model takes 2 inputs \(x, y\)/);
});

test('prepareVerifyInputs: random inputs at the planned shapes, described; weak reasons at a degenerate given shape', () => {
  const model = writeFpnModel(dir, 'fpn-prep.onnx');
  const planned = prepareVerifyInputs(model, [image], { seed: 3 });
  assert.deepEqual(planned.tensors[0].dims, [1, 3, 224, 224]);
  assert.deepEqual(planned.description.tensors.x, {
    dtype: 'float32', shape: [1, 3, 224, 224], values: 'normal(0,1)',
    declared: ['batch', 3, 'height', 'width'], shape_from: 'batch 1; 224×224: image input, a multiple of the total stride 4',
  });
  assert.equal(planned.description.seed, 3);
  assert.deepEqual(planned.description.total_stride, [4, 4]);
  assert.deepEqual(planned.weak, []);
  const tiny = prepareVerifyInputs(model, [image], { shapes: { x: [1, 3, 1, 1] } });
  assert.equal(tiny.description.tensors.x.shape_from, 'as given');
  assert.equal(tiny.weak.length, 1);
  assert.match(tiny.weak[0], /Conv 'conv1' gets a 1×1 input under a 3×3 window/);
  assert.throws(() => prepareVerifyInputs(model, [image], { inputs: path.join(dir, 'in.txt') }), /in\.txt: inputs must be a \.safetensors file .* or a \.npy file/);
});
