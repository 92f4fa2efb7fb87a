/**
 * Models as people build them by hand with onnx.helper or edit them with
 * graph tools: unnamed and duplicate-named nodes, old opsets, unusual layers
 * (grouped ConvTranspose, Conv1d/Conv3d), float16, values that are also graph
 * outputs or read by an If branch, external data in a subfolder, names with
 * slashes and colons. Each goes scan → fuse → ONNX Runtime (original vs fused).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { isExternal } from '../../../extension/engine/onnx/tensors';
import { tempDir } from '../helpers/fixtures';
import { relativeToMax } from '../fusion/helpers/numbers';
import { buildLinearCase } from '../loraBranch/linearModels';
import { batchNormChannels } from '../../../extension/engine/stats/foldChannels';
import { OnnxParamSource } from '../../../extension/engine/stats/paramSource';
import { GraphBuilder, modelProto } from './exporterGraph';
import { appliedPatterns, describeCandidates, expectBlocked, expectFusable, feedValues, opCount, runOrt, runPipeline } from './pipeline';
import { makeGraph, makeNode, makeOpsetId, makeTensor, makeValueInfo, roundTo, writeModel } from '../helpers/onnxBuilder';

const dir = tempDir('modelfuse-handbuilt-');
const HELPER = { producer: 'onnx.helper', producerVersion: '' };

function convBnRelu(
  g: GraphBuilder,
  names: { conv: string; bn: string; relu: string },
  o: { x: string; y: string; cin: number; C: number; k: number[]; group?: number },
): void {
  const w = g.constant(`w_${g.parts.initializer.length}`, [o.C, o.cin / (o.group ?? 1), ...o.k]);
  const bn = g.batchNormParams([`s_${g.parts.initializer.length}`, `b_${g.parts.initializer.length}`, `m_${g.parts.initializer.length}`, `v_${g.parts.initializer.length}`], o.C);
  g.node('Conv', names.conv, [o.x, w], [`${o.y}_c`], { pads: [...o.k, ...o.k].map((k) => (k - 1) / 2), group: o.group ?? 1 });
  g.node('BatchNormalization', names.bn, [`${o.y}_c`, ...bn], [`${o.y}_b`]);
  g.node('Relu', names.relu, [`${o.y}_b`], [o.y]);
}

test('unnamed nodes (onnx.helper default): Conv+BN+Relu and MatMul+Add are found as Conv#0 … and fused', async () => {
  const g = new GraphBuilder();
  g.input('x', ['N', 3, 6, 6]).output('y', ['N', 4]);
  convBnRelu(g, { conv: '', bn: '', relu: '' }, { x: 'x', y: 'r', cin: 3, C: 5, k: [3, 3] });
  const w = g.constant('fc_w', [5, 4]);
  const b = g.constant('fc_b', [4]);
  g.node('GlobalAveragePool', '', ['r'], ['p']);
  g.node('Flatten', '', ['p'], ['f']);
  g.node('MatMul', '', ['f', w], ['mm']);
  g.node('Add', '', ['mm', b], ['y']);
  const file = writeModel(path.join(dir, 'unnamed.onnx'), modelProto(g, { opset: 13, irVersion: 8, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [2, 3, 6, 6] } });
  expectFusable(r.candidates, 'conv-bn-relu', ['Conv#0', 'BatchNormalization#1', 'Relu#2']);
  expectFusable(r.candidates, 'matmul-add', ['MatMul#5', 'Add#6']);
  assert.deepEqual(appliedPatterns(r), ['conv-bn-relu:Conv#0+BatchNormalization#1+Relu#2', 'matmul-add:MatMul#5+Add#6']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  assert.equal(opCount(r.fused, 'Gemm'), 1);
  // The untouched nodes stay unnamed: fusing renames nothing it did not create.
  assert.deepEqual(r.fused.graph.node.filter((n) => n.op_type !== 'Gemm').map((n) => n.name), ['', '', '', '']);
});

test('duplicate node names: two BatchNorms both called bn are addressed by position and both folded', async () => {
  const build = (bnNames: [string, string]): GraphBuilder => {
    const g = new GraphBuilder();
    g.input('x', [1, 3, 5, 5]).output('y');
    convBnRelu(g, { conv: 'conv1', bn: bnNames[0], relu: 'relu1' }, { x: 'x', y: 'r1', cin: 3, C: 4, k: [3, 3] });
    convBnRelu(g, { conv: 'conv2', bn: bnNames[1], relu: 'relu2' }, { x: 'r1', y: 'y', cin: 4, C: 4, k: [1, 1] });
    return g;
  };
  const file = writeModel(path.join(dir, 'duplicates.onnx'), modelProto(build(['bn', 'bn']), { opset: 11, irVersion: 6, ...HELPER }));
  // ONNX Runtime refuses to load a graph with repeated node names; the same graph with unique names is the reference.
  const reference = writeModel(path.join(dir, 'duplicates-renamed.onnx'), modelProto(build(['bn1', 'bn2']), { opset: 11, irVersion: 6, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } }, { compare: false });
  expectFusable(r.candidates, 'conv-bn-relu', ['conv1', 'bn#1', 'relu1']);
  expectFusable(r.candidates, 'conv-bn-relu', ['conv2', 'bn#4', 'relu2']);
  assert.equal(r.fuse.applied.length, 2);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const inputs = feedValues({ x: { dims: [1, 3, 5, 5] } });
  const d = relativeToMax((await runOrt(r.fuse.output, inputs)).y, (await runOrt(reference, inputs)).y);
  assert.ok(d <= 1e-5, `fused model differs from the reference by ${d}`);
});

test('opset 9 Gemm with transB=1 followed by BatchNormalization (BatchNorm1d): linear-bn folds into B and C', async () => {
  const g = new GraphBuilder();
  g.input('x', ['N', 12]).output('y', ['N', 6]);
  const B = g.constant('fc.weight', [6, 12]);
  const C = g.constant('fc.bias', [6]);
  const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 6);
  g.node('Gemm', 'Gemm_0', ['x', B, C], ['3'], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 });
  g.node('BatchNormalization', 'BatchNormalization_1', ['3', ...bn], ['4'], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } });
  g.node('Relu', 'Relu_2', ['4'], ['y']);
  const file = writeModel(path.join(dir, 'gemm-bn-opset9.onnx'), modelProto(g, { opset: 9, irVersion: 4, producer: 'pytorch', producerVersion: '1.3' }));
  const r = await runPipeline(file, { x: { dims: [3, 12] } });
  expectFusable(r.candidates, 'linear-bn', ['Gemm_0', 'BatchNormalization_1']);
  assert.deepEqual(appliedPatterns(r), ['linear-bn:Gemm_0+BatchNormalization_1']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const gemm = r.fused.graph.node.find((n) => n.op_type === 'Gemm')!;
  assert.equal(gemm.attribute?.find((a) => a.name === 'transB')?.i?.toString(), '1', 'transB is kept');
});

test('grouped ConvTranspose (group=2, stride 2) + BatchNormalization: convtranspose-bn folds with the [Cin, Cout/groups, k…] layout', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 4, 5, 5]).output('y');
  const w = g.constant('up.weight', [4, 3, 3, 3]);
  const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 6);
  g.node('ConvTranspose', '/up/ConvTranspose', ['x', w], ['u'], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
  g.node('BatchNormalization', '/bn/BatchNormalization', ['u', ...bn], ['y'], { epsilon: { float: 1e-3 } });
  const file = writeModel(path.join(dir, 'convtranspose-groups.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 4, 5, 5] } });
  expectFusable(r.candidates, 'convtranspose-bn', ['/up/ConvTranspose', '/bn/BatchNormalization']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  assert.equal(opCount(r.fused, 'ConvTranspose'), 1);
});

for (const dims of [1, 3]) {
  test(`Conv${dims}d + BatchNormalization + Relu: conv-bn-relu folds`, async () => {
    const g = new GraphBuilder();
    const spatial = dims === 1 ? [16] : [4, 5, 4];
    g.input('x', [2, 3, ...spatial]).output('y');
    convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: new Array(dims).fill(3) });
    const file = writeModel(path.join(dir, `conv${dims}d.onnx`), modelProto(g, { opset: 15, irVersion: 8, ...HELPER }));
    const r = await runPipeline(file, { x: { dims: [2, 3, ...spatial] } });
    expectFusable(r.candidates, 'conv-bn-relu', ['conv', 'bn', 'relu']);
    assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  });
}

test('float16 model: Conv+BN folds in float16, and the fused model is as close to the exact result as the original', async () => {
  const build = (dtype: number): GraphBuilder => {
    const g = new GraphBuilder(dtype, DataType.FLOAT16);
    g.input('x', [1, 3, 6, 6]).output('y');
    const w = g.constant('conv.weight', [8, 3, 3, 3]);
    const b = g.constant('conv.bias', [8]);
    const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 8);
    g.node('Conv', 'conv', ['x', w, b], ['c'], { pads: [1, 1, 1, 1] });
    g.node('BatchNormalization', 'bn', ['c', ...bn], ['y']);
    return g;
  };
  const file = writeModel(path.join(dir, 'fp16.onnx'), modelProto(build(DataType.FLOAT16), { opset: 17, irVersion: 8, ...HELPER }));
  const twin = writeModel(path.join(dir, 'fp16-as-fp32.onnx'), modelProto(build(DataType.FLOAT), { opset: 17, irVersion: 8, ...HELPER }));
  const x = roundTo(feedValues({ x: { dims: [1, 3, 6, 6] } }).x.values, DataType.FLOAT16);
  const r = await runPipeline(file, { x: { dims: [1, 3, 6, 6], dtype: DataType.FLOAT16, values: x } }, { tolerance: 4e-3 });
  expectFusable(r.candidates, 'conv-bn', ['conv', 'bn']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  for (const t of r.fused.graph.initializer) assert.equal(t.data_type, DataType.FLOAT16, `${t.name} stays float16`);
  // The same (float16-representable) weights and input computed in float32: the reference both float16 models approximate.
  const exact = (await runOrt(twin, { x: { dims: [1, 3, 6, 6], dtype: DataType.FLOAT, values: x } })).y;
  const originalError = relativeToMax(r.before.y, exact);
  const fusedError = relativeToMax(r.after.y, exact);
  assert.ok(fusedError <= 2 * originalError + 1e-3, `fused float16 error ${fusedError} vs original ${originalError}`);
});

test('a BatchNorm output that is also a graph output: conv-bn still folds (the Conv produces that output), bn-relu is blocked', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y').output('y_b');
  convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  const file = writeModel(path.join(dir, 'bn-graph-output.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectFusable(r.candidates, 'conv-bn', ['conv', 'bn']);
  expectBlocked(r.candidates, 'bn-relu', ['bn', 'relu'], /output 'y_b' of 'bn' is also a graph output/);
  assert.ok(!r.candidates.some((c) => c.pattern === 'conv-bn-relu'), describeCandidates(r.candidates));
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  assert.ok(r.fused.graph.output.some((o) => o.name === 'y_b'));
});

test('a Conv output that is also a graph output: conv-bn is blocked with the reason, nothing is folded', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y').output('y_c');
  convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  const file = writeModel(path.join(dir, 'conv-graph-output.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectBlocked(r.candidates, 'conv-bn-relu', ['conv', 'bn', 'relu'], /output 'y_c' of 'conv' is also a graph output/);
  assert.deepEqual(r.fuse.applied, []);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

/** If(cond) { Identity(outer) } else { Neg(outer) }: a branch reading `outer` from the enclosing graph. */
function ifReading(g: GraphBuilder, outer: string, out: string): void {
  const branch = (name: string, op: string): onnx.GraphProto =>
    makeGraph([makeNode(op, [outer], [`${name}_out`], `${name}_${op}`)], name, [], [makeValueInfo(`${name}_out`)]);
  g.parts.node.push(makeNode('Constant', [], ['cond'], 'cond', { value: { tensor: makeTensor('', DataType.BOOL, [], [1]) } }));
  g.node('If', 'if', ['cond'], [out], { then_branch: { graph: branch('then', 'Identity') }, else_branch: { graph: branch('else', 'Neg') } });
}

test('an If branch reading the Conv output from the outer scope blocks conv-bn', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y').output('branch');
  convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  ifReading(g, 'y_c', 'branch');
  const file = writeModel(path.join(dir, 'if-reads-conv.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectBlocked(r.candidates, 'conv-bn-relu', ['conv', 'bn', 'relu'], /output 'y_c' of 'conv' is also read inside a subgraph/);
  assert.deepEqual(r.fuse.applied, []);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

test('an If branch reading the BatchNorm output: conv-bn folds (the branch reads the fused Conv), conv-bn-relu and bn-relu do not', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y').output('branch');
  convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  ifReading(g, 'y_b', 'branch');
  const file = writeModel(path.join(dir, 'if-reads-bn.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectFusable(r.candidates, 'conv-bn', ['conv', 'bn']);
  expectBlocked(r.candidates, 'bn-relu', ['bn', 'relu'], /output 'y_b' of 'bn' is also read inside a subgraph/);
  assert.deepEqual(appliedPatterns(r), ['conv-bn:conv+bn']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  assert.ok(r.before.branch.length > 0 && relativeToMax(r.after.branch, r.before.branch) <= 1e-5);
});

test('external data in a subfolder (weights/w.bin): folds read it, the input data file is untouched, untouched external weights stay external', async () => {
  const sub = path.join(dir, 'external');
  const g = new GraphBuilder();
  g.input('x', [1, 3, 6, 6]).output('y').output('z');
  const w = g.constant('conv.weight', [8, 3, 3, 3]);
  const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 8);
  const w2 = g.constant('side.weight', [16, 3, 3, 3]);
  g.node('Conv', 'conv', ['x', w], ['c'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', 'bn', ['c', ...bn], ['y']);
  g.node('Conv', 'side', ['x', w2], ['z']);
  const file = writeModel(path.join(sub, 'model.onnx'), modelProto(g, { opset: 13, irVersion: 8, ...HELPER }),
    { location: 'weights/w.bin', names: ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'side.weight'] });
  const dataFile = path.join(sub, 'weights', 'w.bin');
  const hash = (): string => crypto.createHash('sha256').update(fs.readFileSync(dataFile)).digest('hex');
  const before = hash();
  const r = await runPipeline(file, { x: { dims: [1, 3, 6, 6] } });
  expectFusable(r.candidates, 'conv-bn', ['conv', 'bn']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  assert.equal(hash(), before, 'the input model\'s external data is never written');
  assert.equal(r.fuse.externalData, path.join(sub, 'model.fused.onnx.data'));
  const side = r.fused.graph.initializer.find((t) => t.name === 'side.weight')!;
  assert.ok(isExternal(side), 'an external weight no fold touched stays external');
});

test('initializer names with slashes and colons (TF variable names) survive folding, including a new bias', async () => {
  const g = new GraphBuilder();
  g.input('input:0', [1, 2, 4, 4]).output('Identity:0');
  const w = g.constant('model/conv2d:0/kernel:0', [3, 2, 3, 3]);
  const bn = g.batchNormParams(['model/bn:0/gamma:0', 'model/bn:0/beta:0', 'model/bn:0/moving_mean:0', 'model/bn:0/moving_variance:0'], 3);
  g.node('Conv', 'model/conv2d/Conv2D:0', ['input:0', w], ['conv:0'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', 'model/bn/FusedBatchNormV3:0', ['conv:0', ...bn], ['Identity:0']);
  const file = writeModel(path.join(dir, 'slashes.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { 'input:0': { dims: [1, 2, 4, 4] } });
  expectFusable(r.candidates, 'conv-bn', ['model/conv2d/Conv2D:0', 'model/bn/FusedBatchNormV3:0']);
  const conv = r.fused.graph.node.find((n) => n.op_type === 'Conv')!;
  assert.deepEqual(conv.input, ['input:0', 'model/conv2d:0/kernel:0', 'model/conv2d:0/kernel:0_bias']);
  assert.deepEqual(r.fused.graph.initializer.map((t) => t.name).sort(), ['model/conv2d:0/kernel:0', 'model/conv2d:0/kernel:0_bias']);
});

for (const dtype of [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]) {
  const fields = dtype === DataType.FLOAT ? 'float_data' : dtype === DataType.DOUBLE ? 'double_data' : 'float16 in int32_data';
  // ONNX Runtime's CPU provider has no float64 Conv; a float64 model is a Gemm + BatchNorm1d.
  const conv = dtype !== DataType.DOUBLE;
  test(`onnx.helper.make_tensor's default typed fields (${fields}) instead of raw_data: ${conv ? 'conv-bn' : 'linear-bn'} folds`, async () => {
    const g = new GraphBuilder(dtype);
    g.input('x', conv ? [1, 3, 5, 5] : [2, 6]).output('y');
    const w = g.constant('layer.weight', conv ? [4, 3, 3, 3] : [4, 6], { typed: true });
    const b = g.constant('layer.bias', [4], { typed: true, storage: 'constant-node' });
    const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 4, 'initializer', true);
    if (conv) g.node('Conv', 'layer', ['x', w, b], ['c'], { pads: [1, 1, 1, 1] });
    else g.node('Gemm', 'layer', ['x', w, b], ['c'], { transB: 1 });
    g.node('BatchNormalization', 'bn', ['c', ...bn], ['y']);
    const file = writeModel(path.join(dir, `typed-${dtype}.onnx`), modelProto(g, { opset: 15, irVersion: 8, ...HELPER }));
    const r = await runPipeline(file, { x: { dims: conv ? [1, 3, 5, 5] : [2, 6], dtype } }, { tolerance: dtype === DataType.FLOAT16 ? 4e-3 : 1e-5 });
    expectFusable(r.candidates, conv ? 'conv-bn' : 'linear-bn', ['layer', 'bn']);
    assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
    for (const t of r.fused.graph.initializer) assert.equal(t.data_type, dtype, `${t.name} keeps its type`);
  });
}

test('BatchNorm parameters as Constant nodes with value_floats (opset 12+ shorthand): recognised as constants and folded', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y');
  const w = g.constant('conv.weight', [4, 3, 3, 3]);
  const bn = g.batchNormParams(['bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], 4, 'constant-floats');
  const scale = g.constant('channel_scale', [4], { storage: 'constant-floats' });
  g.node('Conv', 'conv', ['x', w], ['c'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', 'bn', ['c', ...bn], ['b']);
  g.node('Unsqueeze', 'unsq', [scale, g.constant('axes', [2], { values: [1, 2], dtype: DataType.INT64 })], ['scale_c11']);
  g.node('Mul', 'mul', ['b', 'scale_c11'], ['y']);
  const file = writeModel(path.join(dir, 'value-floats.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectFusable(r.candidates, 'conv-bn', ['conv', 'bn']);
  // The Mul's [C,1,1] scale is an Unsqueeze of a value_floats constant: still a constant, so it folds once the BN is gone.
  assert.deepEqual(appliedPatterns(r), ['conv-bn:conv+bn', 'conv-mul:conv+mul']);
  assert.deepEqual(r.fused.graph.node.map((n) => n.op_type), ['Conv'], 'the Unsqueeze and every Constant went with the Mul');
});

test("opset_import and nodes in the explicit 'ai.onnx' domain: treated as the default domain", async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y');
  convBnRelu(g, { conv: 'conv', bn: 'bn', relu: 'relu' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  for (const n of g.parts.node) n.domain = 'ai.onnx';
  const m = modelProto(g, { opset: 13, irVersion: 7, ...HELPER });
  m.opset_import = [makeOpsetId('ai.onnx', 13)];
  const file = writeModel(path.join(dir, 'ai-onnx-domain.onnx'), m);
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectFusable(r.candidates, 'conv-bn-relu', ['conv', 'bn', 'relu']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
});

test('an unmerged LoRA branch with unnamed nodes is folded into its base weight (addresses match between scan and fold)', async () => {
  const c = buildLinearCase({ base: 'MatMul', bias: true, adapters: [{ r: 2, scale: { op: 'Mul', s: 2 } }] });
  const m = onnx.ModelProto.decode(c.bytes);
  for (const n of m.graph!.node!) n.name = '';
  const file = writeModel(path.join(dir, 'lora-unnamed.onnx'), m);
  const r = await runPipeline(file, c.feeds);
  const lora = r.candidates.filter((x) => x.pattern === 'lora-branch');
  assert.deepEqual(lora.map((x) => [x.nodes[0], x.blocked]), [['MatMul#1', null]]);
  assert.deepEqual(r.fuse.applied.map((a) => a.pattern), ['lora-branch']);
  assert.equal(opCount(r.fused, 'MatMul'), 1, 'only the base MatMul is left');
});

test('the fuse report names unnamed nodes by the same addresses as scan (removed nodes, changed tensors)', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y');
  convBnRelu(g, { conv: '', bn: '', relu: '' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  const file = writeModel(path.join(dir, 'unnamed-report.onnx'), modelProto(g, { opset: 13, irVersion: 8, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  const [applied] = r.fuse.applied;
  assert.deepEqual(applied.removedNodes, ['BatchNormalization#1']);
  assert.deepEqual([...new Set(applied.changedTensors.map((t) => t.node))], ['Conv#0']);
});

test('unnamed nodes keep their addresses across fuse passes, so every applied fold names nodes of the model the user gave', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y1').output('y2');
  const w1 = g.constant('w1', [4, 3, 3, 3]);
  const w2 = g.constant('w2', [4, 3, 3, 3]);
  g.node('Conv', '', ['x', w1], ['c1'], { pads: [1, 1, 1, 1] });
  g.node('Add', '', ['c1', g.constant('b1', [4, 1, 1])], ['y1']);
  g.node('Conv', '', ['x', w2], ['c2'], { pads: [1, 1, 1, 1] });
  g.node('Mul', '', ['c2', g.constant('s2', [4, 1, 1], { positive: true })], ['m2']);
  // Only after the Mul is inside Conv#2 (second pass, Add#1 and Mul#3 gone) does this Add read a Conv.
  g.node('BatchNormalization', '', ['m2', ...g.batchNormParams(['g', 'b', 'm', 'v'], 4)], ['y2']);
  const file = writeModel(path.join(dir, 'unnamed-passes.onnx'), modelProto(g, { opset: 13, irVersion: 8, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  assert.deepEqual(appliedPatterns(r), ['conv-add:Conv#0+Add#1', 'conv-mul:Conv#2+Mul#3', 'conv-bn:Conv#2+BatchNormalization#4']);
  // The diff view finds the BatchNorm of the second-pass fold in the original model by that address.
  const fold = r.fuse.applied[2];
  const channels = batchNormChannels(new OnnxParamSource(r.original), fold);
  assert.equal(channels?.bnNode, 'BatchNormalization#4');
  assert.equal(channels?.scale.length, 4);
});

test('weights computed at run time (QDQ DequantizeLinear, an unfolded Transpose of a Keras kernel): conv-bn blocked with the producing node named', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y1').output('y2');
  const q = g.constant('w_q', [4, 3, 3, 3], { dtype: DataType.INT8, values: Array.from({ length: 108 }, (_, i) => (i * 37) % 255 - 127) });
  g.node('DequantizeLinear', 'w_dequant', [q, g.constant('w_scale', [], { values: [0.01] }), g.constant('w_zero', [], { dtype: DataType.INT8, values: [0] })], ['w_dq']);
  g.node('Conv', 'qconv', ['x', 'w_dq'], ['c1'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', 'qbn', ['c1', ...g.batchNormParams(['g1', 'b1', 'm1', 'v1'], 4)], ['y1']);
  const hwio = g.constant('conv2d/kernel:0', [3, 3, 3, 4]);
  g.node('Transpose', 'conv2d/kernel/transpose', [hwio], ['kernel_oihw'], { perm: [3, 2, 0, 1] });
  g.node('Conv', 'conv2d/Conv2D', ['x', 'kernel_oihw'], ['c2'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', 'bn/FusedBatchNormV3', ['c2', ...g.batchNormParams(['g2', 'b2', 'm2', 'v2'], 4)], ['y2']);
  const file = writeModel(path.join(dir, 'computed-weights.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectBlocked(r.candidates, 'conv-bn', ['qconv', 'qbn'], /Conv weight 'w_dq' is computed by 'w_dequant', not a constant/);
  expectBlocked(r.candidates, 'conv-bn', ['conv2d/Conv2D', 'bn/FusedBatchNormV3'], /Conv weight 'kernel_oihw' is computed by 'conv2d\/kernel\/transpose', not a constant/);
  assert.deepEqual(r.fuse.applied, []);
});

test('blocked reasons name unnamed nodes by the address scan lists them under', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 5, 5]).output('y').output('y_c');
  convBnRelu(g, { conv: '', bn: '', relu: '' }, { x: 'x', y: 'y', cin: 3, C: 4, k: [3, 3] });
  const file = writeModel(path.join(dir, 'unnamed-blocked.onnx'), modelProto(g, { opset: 13, irVersion: 8, ...HELPER }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 5, 5] } });
  expectBlocked(r.candidates, 'conv-bn-relu', ['Conv#0', 'BatchNormalization#1', 'Relu#2'], /^output 'y_c' of 'Conv#0' is also a graph output$/);
});
