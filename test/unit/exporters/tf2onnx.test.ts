/**
 * Models shaped the way tf2onnx writes Keras / TensorFlow graphs: weights as
 * `Constant` nodes, NHWC graphs with Transposes around each Conv, the conv
 * bias as a separate Add of a [1,C,1,1] constant, scales as Mul, BatchNorm at
 * opsets 7–13, ReLU6 as Clip, Dense as MatMul + Add, and TF's generated names
 * (`StatefulPartitionedCall/model/conv2d/Conv2D`, `const_fold_opt__123`).
 * Each one goes through scan → fuse → ONNX Runtime (original vs fused).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { warningText } from '../../../extension/engine/fusion/warnings';
import { GraphBuilder, modelProto, type ConstantStorage } from './exporterGraph';
import { appliedPatterns, describeCandidates, expectBlocked, expectFusable, opCount, runPipeline } from './pipeline';
import { writeModel } from '../helpers/onnxBuilder';

const dir = tempDir('modelfuse-tf2onnx-');
const TF2ONNX = { producer: 'tf2onnx', producerVersion: '1.16.1 15c810' };
const SCOPE = 'StatefulPartitionedCall/model';

/**
 * NHWC input → Transpose → Conv (no bias) → Add [1,C,1,1] (BiasAdd) → Mul [C,1,1]
 * → BatchNormalization → Clip(0, 6) → Transpose → Add [C] in NHWC (must stay).
 */
function nhwcBlock(opts: { opset: number; storage: ConstantStorage; C?: number }): GraphBuilder {
  const C = opts.C ?? 6;
  const g = new GraphBuilder();
  const s = opts.storage;
  g.input('input_1:0', ['unk__42', 9, 9, 3]).output('Identity:0', ['unk__43', 9, 9, C]);
  const w = g.constant(`${SCOPE}/conv2d/Conv2D/ReadVariableOp:0`, [C, 3, 3, 3], { storage: s, nodeName: `${SCOPE}/conv2d/Conv2D/ReadVariableOp` });
  const bias = g.constant('const_fold_opt__123', [1, C, 1, 1], { storage: s, scale: 0.3 });
  const mul = g.constant('const_fold_opt__124', [C, 1, 1], { storage: s, positive: true });
  const bn = g.batchNormParams([`${SCOPE}/batch_normalization/ReadVariableOp:0`, `${SCOPE}/batch_normalization/ReadVariableOp_1:0`,
    `${SCOPE}/batch_normalization/FusedBatchNormV3/ReadVariableOp:0`, `${SCOPE}/batch_normalization/FusedBatchNormV3/ReadVariableOp_1:0`], C, s);
  const nhwcBias = g.constant('const_fold_opt__130', [C], { storage: s });
  g.node('Transpose', `${SCOPE}/conv2d/Conv2D__6`, ['input_1:0'], ['Conv2D__6:0'], { perm: [0, 3, 1, 2] });
  g.node('Conv', `${SCOPE}/conv2d/Conv2D`, ['Conv2D__6:0', w], ['Conv2D:0'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], group: 1 });
  g.node('Add', `${SCOPE}/conv2d/BiasAdd`, ['Conv2D:0', bias], ['BiasAdd:0']);
  g.node('Mul', `${SCOPE}/multiply/mul`, ['BiasAdd:0', mul], ['mul:0']);
  g.node('BatchNormalization', `${SCOPE}/batch_normalization/FusedBatchNormV3`, ['mul:0', ...bn], ['FusedBatchNormV3:0'], { epsilon: { float: 0.001 } });
  if (opts.opset >= 11) {
    const lo = g.constant('min__7', [], { values: [0], storage: 'constant-node', nodeName: 'min__7' });
    const hi = g.constant('max__8', [], { values: [6], storage: 'constant-node', nodeName: 'max__8' });
    g.node('Clip', `${SCOPE}/re_lu/Relu6`, ['FusedBatchNormV3:0', lo, hi], ['Relu6:0']);
  } else {
    g.node('Clip', `${SCOPE}/re_lu/Relu6`, ['FusedBatchNormV3:0'], ['Relu6:0'], { min: { float: 0 }, max: { float: 6 } });
  }
  g.node('Transpose', `${SCOPE}/re_lu/Relu6__10`, ['Relu6:0'], ['Relu6__10:0'], { perm: [0, 2, 3, 1] });
  g.node('Add', `${SCOPE}/add/add`, ['Relu6__10:0', nhwcBias], ['Identity:0']);
  return g;
}

for (const storage of ['constant-node', 'initializer'] as const) {
  test(`tf2onnx NHWC conv block, weights as ${storage}s: BiasAdd, Mul and BatchNorm all fold into the Conv; Clip (ReLU6) and the NHWC Add stay`, async () => {
    const file = writeModel(path.join(dir, `nhwc-${storage}.onnx`), modelProto(nhwcBlock({ opset: 13, storage }), { opset: 13, irVersion: 7, ...TF2ONNX }));
    const r = await runPipeline(file, { 'input_1:0': { dims: [2, 9, 9, 3] } });
    // Before fusing only the Add reads the Conv directly; the Mul and the BN become foldable one pass after another.
    expectFusable(r.candidates, 'conv-add', [`${SCOPE}/conv2d/Conv2D`, `${SCOPE}/conv2d/BiasAdd`]);
    assert.ok(!r.candidates.some((c) => c.nodes.includes(`${SCOPE}/re_lu/Relu6`)), `Clip (ReLU6) must not be grouped: ${describeCandidates(r.candidates)}`);
    assert.ok(!r.candidates.some((c) => c.nodes.includes(`${SCOPE}/add/add`)), `an Add after the Transpose back to NHWC is not a conv bias: ${describeCandidates(r.candidates)}`);
    assert.deepEqual(appliedPatterns(r), [
      `conv-add:${SCOPE}/conv2d/Conv2D+${SCOPE}/conv2d/BiasAdd`,
      `conv-mul:${SCOPE}/conv2d/Conv2D+${SCOPE}/multiply/mul`,
      `conv-bn:${SCOPE}/conv2d/Conv2D+${SCOPE}/batch_normalization/FusedBatchNormV3`,
    ]);
    assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
    assert.equal(opCount(r.fused, 'Mul'), 0);
    assert.equal(opCount(r.fused, 'Add'), 1, 'only the NHWC Add remains');
    assert.equal(opCount(r.fused, 'Clip'), 1);
    assert.equal(opCount(r.fused, 'Transpose'), 2);
    // The folded Conv weight/bias are initializers; the Constant nodes they came from are gone, Clip's bounds stay.
    const constants = r.fused.graph.node.filter((n) => n.op_type === 'Constant').map((n) => n.output?.[0] ?? '');
    assert.deepEqual(constants.filter((c) => !['min__7', 'max__8', 'const_fold_opt__130'].includes(c)), []);
  });
}

for (const opset of [7, 8, 9, 11, 12, 13]) {
  test(`tf2onnx BatchNormalization at opset ${opset}${opset < 9 ? ' (with the old spatial=1 attribute)' : ''}: conv-bn-relu folds`, async () => {
    const C = 5;
    const g = new GraphBuilder();
    g.input('x:0', ['N', 4, 7, 7]).output('y:0');
    const w = g.constant('conv2d/kernel:0', [C, 4, 3, 3], { storage: opset >= 9 ? 'constant-node' : 'initializer' });
    const b = g.constant('conv2d/bias:0', [C], { storage: opset >= 9 ? 'constant-node' : 'initializer' });
    const bn = g.batchNormParams(['bn/gamma:0', 'bn/beta:0', 'bn/moving_mean:0', 'bn/moving_variance:0'], C);
    g.node('Conv', 'model/conv2d/Conv2D', ['x:0', w, b], ['conv:0'], { kernel_shape: [3, 3], pads: [0, 0, 0, 0] });
    g.node('BatchNormalization', 'model/bn/FusedBatchNormV3', ['conv:0', ...bn], ['bn:0'], { epsilon: { float: 0.001 }, ...(opset < 9 ? { spatial: 1 } : {}), ...(opset === 7 ? { momentum: { float: 0.99 } } : {}) });
    g.node('Relu', 'model/re_lu/Relu', ['bn:0'], ['y:0']);
    const file = writeModel(path.join(dir, `bn-opset${opset}.onnx`), modelProto(g, { opset, irVersion: opset >= 9 ? 4 : 3, ...TF2ONNX }));
    const r = await runPipeline(file, { 'x:0': { dims: [2, 4, 7, 7] } });
    expectFusable(r.candidates, 'conv-bn-relu', ['model/conv2d/Conv2D', 'model/bn/FusedBatchNormV3', 'model/re_lu/Relu']);
    assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
    assert.equal(opCount(r.fused, 'Relu'), 1);
  });
}

test('tf2onnx BatchNormalization at opset 7 with spatial=0 (per-activation statistics): reported blocked, not folded', async () => {
  const C = 3;
  const g = new GraphBuilder();
  g.input('x:0', [1, 2, 4, 4]).output('y:0');
  const w = g.constant('conv/kernel:0', [C, 2, 1, 1]);
  // spatial=0: one statistic per (channel, h, w) — BN parameters of shape [C, H, W].
  const bn = [
    g.constant('bn/gamma:0', [C, 4, 4], { scale: 0.3, offset: 1 }), g.constant('bn/beta:0', [C, 4, 4], { scale: 0.2 }),
    g.constant('bn/mean:0', [C, 4, 4], { scale: 0.3 }), g.constant('bn/var:0', [C, 4, 4], { positive: true }),
  ];
  g.node('Conv', 'conv/Conv2D', ['x:0', w], ['c:0']);
  g.node('BatchNormalization', 'bn/FusedBatchNorm', ['c:0', ...bn], ['y:0'], { spatial: 0, epsilon: { float: 0.001 } });
  const file = writeModel(path.join(dir, 'bn-spatial0.onnx'), modelProto(g, { opset: 7, irVersion: 3, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 2, 4, 4] } });
  expectBlocked(r.candidates, 'conv-bn', ['conv/Conv2D', 'bn/FusedBatchNorm'], /spatial=0/);
  assert.equal(r.fuse.applied.length, 0);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

test('tf2onnx Dense: MatMul by a Constant weight + Add of a [N] bias on a 2-D input becomes one Gemm; the ReLU stays', async () => {
  const g = new GraphBuilder();
  g.input('dense_input:0', ['unk__12', 16]).output('Identity:0', ['unk__13', 8]);
  const w = g.constant(`${SCOPE}/dense/MatMul/ReadVariableOp:0`, [16, 8], { storage: 'constant-node' });
  const b = g.constant(`${SCOPE}/dense/BiasAdd/ReadVariableOp:0`, [8], { storage: 'constant-node' });
  g.node('MatMul', `${SCOPE}/dense/MatMul`, ['dense_input:0', w], ['MatMul:0']);
  g.node('Add', `${SCOPE}/dense/BiasAdd`, ['MatMul:0', b], ['BiasAdd:0']);
  g.node('Relu', `${SCOPE}/dense/Relu`, ['BiasAdd:0'], ['Identity:0']);
  const file = writeModel(path.join(dir, 'dense.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'dense_input:0': { dims: [3, 16] } });
  expectFusable(r.candidates, 'matmul-add', [`${SCOPE}/dense/MatMul`, `${SCOPE}/dense/BiasAdd`]);
  // For PyTorch's fuse_modules the same layers are still a Linear + ReLU group.
  findLinearRelu(r.candidates);
  assert.deepEqual(appliedPatterns(r), [`matmul-add:${SCOPE}/dense/MatMul+${SCOPE}/dense/BiasAdd`]);
  assert.equal(opCount(r.fused, 'Gemm'), 1);
  assert.equal(opCount(r.fused, 'MatMul') + opCount(r.fused, 'Add'), 0);
});

function findLinearRelu(candidates: Parameters<typeof describeCandidates>[0]): void {
  assert.ok(candidates.some((c) => c.pattern === 'linear-relu' && c.nodes.includes(`${SCOPE}/dense/Relu`)), `linear-relu missing: ${describeCandidates(candidates)}`);
}

test('tf2onnx Dense after Flatten/Reshape: the 2-D input is recognised through a Constant shape; a 3-D MatMul is not offered', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [2, 4, 3, 3]).input('seq:0', [2, 5, 6]).output('y:0').output('z:0');
  const shape = g.constant('const_fold_opt__55', [2], { values: [-1, 36], storage: 'constant-node', dtype: 7 });
  const w = g.constant('dense/kernel:0', [36, 10]);
  const b = g.constant('dense/bias:0', [10]);
  const w3 = g.constant('dense_1/kernel:0', [6, 7]);
  const b3 = g.constant('dense_1/bias:0', [7]);
  g.node('Reshape', 'model/flatten/Reshape', ['x:0', shape], ['flat:0']);
  g.node('MatMul', 'model/dense/MatMul', ['flat:0', w], ['mm:0']);
  g.node('Add', 'model/dense/BiasAdd', ['mm:0', b], ['y:0']);
  g.node('MatMul', 'model/dense_1/Tensordot/MatMul', ['seq:0', w3], ['mm3:0']);
  g.node('Add', 'model/dense_1/BiasAdd', ['mm3:0', b3], ['z:0']);
  const file = writeModel(path.join(dir, 'dense-reshape.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [2, 4, 3, 3] }, 'seq:0': { dims: [2, 5, 6] } });
  expectFusable(r.candidates, 'matmul-add', ['model/dense/MatMul', 'model/dense/BiasAdd']);
  assert.ok(!r.candidates.some((c) => c.nodes.includes('model/dense_1/Tensordot/MatMul')), `3-D MatMul offered: ${describeCandidates(r.candidates)}`);
  assert.equal(opCount(r.fused, 'Gemm'), 1);
  assert.equal(opCount(r.fused, 'MatMul'), 1);
});

test('tf2onnx ReLU6 as Clip directly after a Conv: not proposed as conv-relu (fuse_modules has no Conv+ReLU6 fuser)', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [1, 3, 6, 6]).output('y:0');
  const w = g.constant('conv/kernel:0', [4, 3, 3, 3], { storage: 'constant-node' });
  const b = g.constant('conv/bias:0', [4], { storage: 'constant-node' });
  const lo = g.constant('min__1', [], { values: [0], storage: 'constant-node' });
  const hi = g.constant('max__2', [], { values: [6], storage: 'constant-node' });
  g.node('Conv', 'model/conv/Conv2D', ['x:0', w, b], ['c:0'], { pads: [1, 1, 1, 1] });
  g.node('Clip', 'model/re_lu/Relu6', ['c:0', lo, hi], ['y:0']);
  const file = writeModel(path.join(dir, 'relu6.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 3, 6, 6], values: undefined } });
  assert.deepEqual(r.candidates, [], `nothing to fuse: ${describeCandidates(r.candidates)}`);
  assert.equal(r.fuse.applied.length, 0);
});

test('tf2onnx constant de-duplication: two Convs share one weight Constant and one bias initializer; each fold gets its own copy', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [1, 4, 6, 6]).output('y1:0').output('y2:0');
  // const_fold_opt merges equal constants: both Convs read the same kernel and the same (zero) bias.
  const w = g.constant('model/conv/kernel:0', [4, 4, 3, 3], { storage: 'constant-node', nodeName: 'model/conv/kernel' });
  const b = g.constant('const_fold_opt__77', [4], { values: [0, 0, 0, 0] });
  const bn1 = g.batchNormParams(['bn1/gamma:0', 'bn1/beta:0', 'bn1/mean:0', 'bn1/var:0'], 4);
  const bn2 = g.batchNormParams(['bn2/gamma:0', 'bn2/beta:0', 'bn2/mean:0', 'bn2/var:0'], 4);
  g.node('Conv', 'model/conv1/Conv2D', ['x:0', w, b], ['c1:0'], { auto_pad: 'SAME_UPPER', kernel_shape: [3, 3] });
  g.node('BatchNormalization', 'model/bn1/FusedBatchNormV3', ['c1:0', ...bn1], ['y1:0'], { epsilon: { float: 0.001 } });
  g.node('Conv', 'model/conv2/Conv2D', ['x:0', w, b], ['c2:0'], { auto_pad: 'SAME_UPPER', kernel_shape: [3, 3] });
  g.node('BatchNormalization', 'model/bn2/FusedBatchNormV3', ['c2:0', ...bn2], ['y2:0'], { epsilon: { float: 0.001 } });
  const file = writeModel(path.join(dir, 'dedup.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 4, 6, 6] } });
  const c1 = expectFusable(r.candidates, 'conv-bn', ['model/conv1/Conv2D', 'model/bn1/FusedBatchNormV3']);
  assert.equal(c1.details?.sharedWeight, 'model/conv/kernel:0');
  assert.match(c1.warnings.map(warningText).join('\n'), /also read by 'model\/conv2\/Conv2D'/);
  expectFusable(r.candidates, 'conv-bn', ['model/conv2/Conv2D', 'model/bn2/FusedBatchNormV3']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const [conv1, conv2] = r.fused.graph.node.filter((n) => n.op_type === 'Conv');
  assert.notEqual(conv1.input?.[1], conv2.input?.[1], 'each Conv reads its own folded weight');
  assert.notEqual(conv1.input?.[2], conv2.input?.[2], 'each Conv reads its own folded bias');
});

test('tf2onnx bias constants: Add(constant, Conv) in either order folds; a [C] constant on an NCHW Conv broadcasts along W and is not a bias', async () => {
  const C = 6;
  const g = new GraphBuilder();
  g.input('x:0', [1, 3, 6, 6]).output('y:0').output('z:0');
  const w1 = g.constant('conv1/kernel:0', [C, 3, 3, 3]);
  const w2 = g.constant('conv2/kernel:0', [C, 3, 3, 3]);
  const b1 = g.constant('conv1/bias:0', [C, 1, 1]);
  const wide = g.constant('conv2/not_a_bias:0', [C]); // W = 6 = C: broadcasts, but along the width
  g.node('Conv', 'conv1/Conv2D', ['x:0', w1], ['c1:0'], { pads: [1, 1, 1, 1] });
  g.node('Add', 'conv1/BiasAdd', [b1, 'c1:0'], ['y:0']);
  g.node('Conv', 'conv2/Conv2D', ['x:0', w2], ['c2:0'], { pads: [1, 1, 1, 1] });
  g.node('Add', 'conv2/add', ['c2:0', wide], ['z:0']);
  const file = writeModel(path.join(dir, 'bias-orders.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 3, 6, 6] } });
  expectFusable(r.candidates, 'conv-add', ['conv1/Conv2D', 'conv1/BiasAdd']);
  assert.ok(!r.candidates.some((c) => c.nodes.includes('conv2/add')), `a width-wise constant is not a conv bias: ${describeCandidates(r.candidates)}`);
  assert.deepEqual(appliedPatterns(r), ['conv-add:conv1/Conv2D+conv1/BiasAdd']);
  assert.equal(opCount(r.fused, 'Add'), 1);
});

test('opset 6 BatchNormalization with is_test=0 (training mode) is reported blocked by scan, as the fold refuses it', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [1, 2, 4, 4]).output('y:0');
  const w = g.constant('conv/kernel:0', [3, 2, 1, 1]);
  const bn = g.batchNormParams(['bn/gamma:0', 'bn/beta:0', 'bn/mean:0', 'bn/var:0'], 3);
  g.node('Conv', 'conv/Conv2D', ['x:0', w], ['c:0']);
  g.node('BatchNormalization', 'bn/FusedBatchNorm', ['c:0', ...bn], ['y:0'], { is_test: 0 });
  const file = writeModel(path.join(dir, 'bn-opset6-training.onnx'), modelProto(g, { opset: 6, irVersion: 3, ...TF2ONNX }));
  // ONNX Runtime has no BatchNormalization kernel before opset 7: scan and fuse only.
  const r = await runPipeline(file, {}, { compare: false });
  expectBlocked(r.candidates, 'conv-bn', ['conv/Conv2D', 'bn/FusedBatchNorm'], /training mode \(is_test=0\)/);
  assert.deepEqual(r.fuse.applied, []);
});

test('opset 7, IR 3, weights as Constant nodes and a Conv without bias: the new bias initializer is also listed as a graph input, as IR 3 requires', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [1, 2, 5, 5]).output('y:0');
  const w = g.constant('conv/kernel:0', [4, 2, 3, 3], { storage: 'constant-node' });
  const bn = g.batchNormParams(['bn/gamma:0', 'bn/beta:0', 'bn/mean:0', 'bn/var:0'], 4, 'constant-node');
  g.node('Conv', 'conv/Conv2D', ['x:0', w], ['c:0']);
  g.node('BatchNormalization', 'bn/FusedBatchNorm', ['c:0', ...bn], ['y:0'], { spatial: 1, epsilon: { float: 0.001 } });
  const file = writeModel(path.join(dir, 'ir3-constants.onnx'), modelProto(g, { opset: 7, irVersion: 3, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 2, 5, 5] } });
  expectFusable(r.candidates, 'conv-bn', ['conv/Conv2D', 'bn/FusedBatchNorm']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const inits = r.fused.graph.initializer.map((t) => t.name).sort();
  assert.equal(inits.length, 2, `folded weight and new bias: ${inits.join(', ')}`);
  for (const name of inits) assert.ok(r.fused.graph.input.some((i) => i.name === name), `${name} is a graph input (IR 3)`);
});

test('tf2onnx Conv2DTranspose with its BiasAdd and a per-channel Mul as separate nodes: both fold into the ConvTranspose (grouped, strided)', async () => {
  const g = new GraphBuilder();
  g.input('x:0', [1, 4, 5, 5]).output('y:0');
  const w = g.constant('model/conv2d_transpose/conv2d_transpose/ReadVariableOp:0', [4, 3, 3, 3], { storage: 'constant-node' });
  const b = g.constant('const_fold_opt__200', [1, 6, 1, 1], { storage: 'constant-node' });
  const s = g.constant('const_fold_opt__201', [6, 1, 1], { storage: 'constant-node', positive: true });
  // The optional bias input spelled as an empty name, as some converters write it.
  g.node('ConvTranspose', 'model/conv2d_transpose/conv2d_transpose', ['x:0', w, ''], ['ct:0'], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
  g.node('Add', 'model/conv2d_transpose/BiasAdd', ['ct:0', b], ['ba:0']);
  g.node('Mul', 'model/multiply/mul', ['ba:0', s], ['y:0']);
  const file = writeModel(path.join(dir, 'conv-transpose-bias.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [1, 4, 5, 5] } });
  expectFusable(r.candidates, 'conv-add', ['model/conv2d_transpose/conv2d_transpose', 'model/conv2d_transpose/BiasAdd']);
  assert.deepEqual(appliedPatterns(r), [
    'conv-add:model/conv2d_transpose/conv2d_transpose+model/conv2d_transpose/BiasAdd',
    'conv-mul:model/conv2d_transpose/conv2d_transpose+model/multiply/mul',
  ]);
  assert.equal(opCount(r.fused, 'Add') + opCount(r.fused, 'Mul'), 0);
  assert.equal(r.fused.graph.node.find((n) => n.op_type === 'ConvTranspose')?.input?.length, 3);
});

test('tf2onnx Dense → BatchNormalization on [batch, features]: linear-bn turns MatMul + Add + BN into one Gemm with Constant-node weights', async () => {
  const g = new GraphBuilder();
  g.input('x:0', ['unk__1', 10]).output('y:0', ['unk__2', 7]);
  const w = g.constant(`${SCOPE}/dense/MatMul/ReadVariableOp:0`, [10, 7], { storage: 'constant-node' });
  const b = g.constant(`${SCOPE}/dense/BiasAdd/ReadVariableOp:0`, [7], { storage: 'constant-node' });
  const bn = g.batchNormParams(['bn/gamma:0', 'bn/beta:0', 'bn/moving_mean:0', 'bn/moving_variance:0'], 7, 'constant-node');
  g.node('MatMul', `${SCOPE}/dense/MatMul`, ['x:0', w], ['mm:0']);
  g.node('Add', `${SCOPE}/dense/BiasAdd`, ['mm:0', b], ['ba:0']);
  g.node('BatchNormalization', `${SCOPE}/bn/batchnorm`, ['ba:0', ...bn], ['y:0'], { epsilon: { float: 0.001 } });
  const file = writeModel(path.join(dir, 'dense-bn.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...TF2ONNX }));
  const r = await runPipeline(file, { 'x:0': { dims: [4, 10] } });
  expectFusable(r.candidates, 'linear-bn', [`${SCOPE}/dense/MatMul`, `${SCOPE}/dense/BiasAdd`, `${SCOPE}/bn/batchnorm`]);
  assert.deepEqual(r.fused.graph.node.map((n) => n.op_type), ['Gemm']);
  assert.equal(r.fused.graph.initializer.length, 2);
});
