/**
 * Models shaped the way paddle2onnx writes PaddlePaddle programs: parameter
 * names `conv2d_0.w_0`, `batch_norm_0.w_0/.b_0/.w_1/.w_2`, `linear_0.w_0`,
 * node names `p2o.Conv.0`, the conv bias as a separate Add, opsets 11–13;
 * and the old-IR variant where every initializer is also a graph input
 * (a default callers may override), which must be reported, never folded.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { GraphBuilder, modelProto, type ConstantStorage } from './exporterGraph';
import { appliedPatterns, describeCandidates, expectBlocked, expectFusable, opCount, runPipeline } from './pipeline';
import { makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { DataType } from '../../../extension/engine/onnx/proto';

const dir = tempDir('modelfuse-paddle-');
const P2O = { producer: 'PaddlePaddle', producerVersion: '1.2.3' };

/** Conv → Add(bias [1,C,1,1]) → BatchNorm → Relu → GlobalAveragePool → Flatten → MatMul → Add → Softmax. */
function paddleNet(storage: ConstantStorage, C = 6): GraphBuilder {
  const g = new GraphBuilder();
  g.input('x', ['p2o.DynamicDimension.0', 3, 8, 8]).output('save_infer_model/scale_0.tmp_0', ['p2o.DynamicDimension.1', 5]);
  const w = g.constant('conv2d_0.w_0', [C, 3, 3, 3], { storage });
  const b = g.constant('conv2d_0.b_0', [1, C, 1, 1], { storage, scale: 0.3 });
  const bn = g.batchNormParams(['batch_norm_0.w_0', 'batch_norm_0.b_0', 'batch_norm_0.w_1', 'batch_norm_0.w_2'], C, storage);
  const fw = g.constant('linear_0.w_0', [C, 5], { storage });
  const fb = g.constant('linear_0.b_0', [5], { storage });
  g.node('Conv', 'p2o.Conv.0', ['x', w], ['conv2d_0.tmp_0'], { dilations: [1, 1], group: 1, kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  g.node('Add', 'p2o.Add.0', ['conv2d_0.tmp_0', b], ['conv2d_0.tmp_1']);
  g.node('BatchNormalization', 'p2o.BatchNormalization.0', ['conv2d_0.tmp_1', ...bn], ['batch_norm_0.tmp_2'], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } });
  g.node('Relu', 'p2o.Relu.0', ['batch_norm_0.tmp_2'], ['relu_0.tmp_0']);
  g.node('GlobalAveragePool', 'p2o.GlobalAveragePool.0', ['relu_0.tmp_0'], ['pool2d_0.tmp_0']);
  g.node('Flatten', 'p2o.Flatten.0', ['pool2d_0.tmp_0'], ['flatten_0.tmp_0'], { axis: 1 });
  g.node('MatMul', 'p2o.MatMul.0', ['flatten_0.tmp_0', fw], ['linear_0.tmp_0']);
  g.node('Add', 'p2o.Add.2', ['linear_0.tmp_0', fb], ['linear_0.tmp_1']);
  g.node('Softmax', 'p2o.Softmax.0', ['linear_0.tmp_1'], ['save_infer_model/scale_0.tmp_0'], { axis: 1 });
  return g;
}

for (const opset of [11, 12, 13]) {
  test(`paddle2onnx network at opset ${opset}: conv bias Add, BatchNorm and the Linear bias all fold`, async () => {
    const file = writeModel(path.join(dir, `paddle-opset${opset}.onnx`), modelProto(paddleNet('initializer'), { opset, irVersion: 7, ...P2O }));
    const r = await runPipeline(file, { x: { dims: [2, 3, 8, 8] } });
    const convAdd = expectFusable(r.candidates, 'conv-add', ['p2o.Conv.0', 'p2o.Add.0']);
    assert.deepEqual(convAdd.modules, ['conv2d_0'], 'the module comes from the parameter names');
    expectFusable(r.candidates, 'matmul-add', ['p2o.MatMul.0', 'p2o.Add.2']);
    // The BN reads the bias Add, not the Conv: it becomes conv-bn-relu once the Add is inside the Conv.
    assert.deepEqual(appliedPatterns(r), [
      'conv-add:p2o.Conv.0+p2o.Add.0',
      'matmul-add:p2o.MatMul.0+p2o.Add.2',
      'conv-bn-relu:p2o.Conv.0+p2o.BatchNormalization.0+p2o.Relu.0',
    ]);
    assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
    assert.equal(opCount(r.fused, 'Add'), 0);
    assert.equal(opCount(r.fused, 'MatMul'), 0);
    assert.equal(opCount(r.fused, 'Gemm'), 1);
    assert.equal(opCount(r.fused, 'Relu'), 1);
  });
}

test('paddle2onnx old IR (3): every initializer is also a graph input, so nothing is folded and scan says why', async () => {
  const file = writeModel(path.join(dir, 'paddle-ir3.onnx'), modelProto(paddleNet('graph-input'), { opset: 9, irVersion: 3, ...P2O }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 8, 8] } });
  expectBlocked(r.candidates, 'conv-add', ['p2o.Conv.0', 'p2o.Add.0'], /bias 'conv2d_0\.b_0' is also a graph input, so it can change at run time/);
  expectBlocked(r.candidates, 'matmul-add', ['p2o.MatMul.0', 'p2o.Add.2'], /MatMul weight 'linear_0\.w_0' is also a graph input/);
  // bn-relu is a grouping for PyTorch's fuse_modules (nothing folds in ONNX), so overridable parameters do not block it.
  expectFusable(r.candidates, 'bn-relu', ['p2o.BatchNormalization.0', 'p2o.Relu.0']);
  assert.ok(r.candidates.every((c) => !c.folds || c.blocked !== null), `every fold blocked: ${describeCandidates(r.candidates)}`);
  assert.deepEqual(r.fuse.applied, []);
  assert.deepEqual(r.fuse.skipped.map((s) => s.id).sort(), r.candidates.filter((c) => c.folds).map((c) => c.id).sort());
  // The written model is the original graph, graph inputs and all.
  assert.equal(r.fused.graph.input.length, r.original.graph.input.length);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

test('paddle2onnx IR 7 with only the BatchNorm statistics left as graph inputs: conv-add folds, the BN stays with a reason', async () => {
  const g = paddleNet('initializer');
  // Re-list the BN statistics as graph inputs: overridable defaults.
  for (const name of ['batch_norm_0.w_1', 'batch_norm_0.w_2']) g.parts.input.push(makeValueInfo(name, DataType.FLOAT, [6]));
  const file = writeModel(path.join(dir, 'paddle-bn-inputs.onnx'), modelProto(g, { opset: 11, irVersion: 7, ...P2O }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 8, 8] } });
  expectFusable(r.candidates, 'conv-add', ['p2o.Conv.0', 'p2o.Add.0']);
  assert.deepEqual(appliedPatterns(r), ['conv-add:p2o.Conv.0+p2o.Add.0', 'matmul-add:p2o.MatMul.0+p2o.Add.2']);
  const bnSkip = r.fuse.skipped.find((s) => s.id.startsWith('conv-bn-relu:'));
  assert.ok(bnSkip, `the BN fold is reported as skipped: ${JSON.stringify(r.fuse.skipped)}`);
  assert.match(bnSkip.reason, /BatchNormalization running mean 'batch_norm_0\.w_1' is also a graph input/);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

for (const opset of [11, 13]) {
  test(`paddle2onnx conv bias unsqueezed to [1,C,1,1] by an Unsqueeze node (axes as ${opset < 13 ? 'attribute' : 'input'}, opset ${opset}): still a constant, conv-add folds`, async () => {
    const C = 5;
    const g = new GraphBuilder();
    g.input('x', ['p2o.DynamicDimension.0', 3, 6, 6]).output('conv2d_0.tmp_1');
    const w = g.constant('conv2d_0.w_0', [C, 3, 3, 3]);
    const b = g.constant('conv2d_0.b_0', [C]);
    g.node('Conv', 'p2o.Conv.0', ['x', w], ['conv2d_0.tmp_0'], { pads: [1, 1, 1, 1] });
    if (opset < 13) g.node('Unsqueeze', 'p2o.Unsqueeze.0', [b], ['p2o.Unsqueeze.0.out'], { axes: [0, 2, 3] });
    else g.node('Unsqueeze', 'p2o.Unsqueeze.0', [b, g.constant('p2o.Constant.0', [3], { values: [0, 2, 3], dtype: 7, storage: 'constant-node' })], ['p2o.Unsqueeze.0.out']);
    g.node('Add', 'p2o.Add.0', ['conv2d_0.tmp_0', 'p2o.Unsqueeze.0.out'], ['conv2d_0.tmp_1']);
    const file = writeModel(path.join(dir, `paddle-unsqueeze-bias-${opset}.onnx`), modelProto(g, { opset, irVersion: 7, ...P2O }));
    const r = await runPipeline(file, { x: { dims: [2, 3, 6, 6] } });
    expectFusable(r.candidates, 'conv-add', ['p2o.Conv.0', 'p2o.Add.0']);
    assert.deepEqual(r.fused.graph.node.map((n) => n.op_type), ['Conv'], 'the Unsqueeze went with the Add');
    // The Conv's new bias is named after its module; the unsqueezed source is no longer read and is gone.
    assert.deepEqual(r.fused.graph.initializer.map((t) => t.name).sort(), ['conv2d_0.bias', 'conv2d_0.w_0']);
  });
}

test('a relabelled constant whose source is an overridable graph input is not a constant', async () => {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 6, 6]).output('y');
  const w = g.constant('conv2d_0.w_0', [4, 3, 3, 3]);
  const b = g.constant('conv2d_0.b_0', [4], { storage: 'graph-input' });
  g.node('Conv', 'p2o.Conv.0', ['x', w], ['c'], { pads: [1, 1, 1, 1] });
  g.node('Reshape', 'p2o.Reshape.0', [b, g.constant('shape', [4], { values: [1, -1, 1, 1], dtype: 7 })], ['b4']);
  g.node('Add', 'p2o.Add.0', ['c', 'b4'], ['y']);
  const file = writeModel(path.join(dir, 'paddle-reshape-input.onnx'), modelProto(g, { opset: 13, irVersion: 7, ...P2O }));
  const r = await runPipeline(file, { x: { dims: [1, 3, 6, 6] } });
  assert.deepEqual(r.candidates, [], `a computed bias Add is not a candidate: ${describeCandidates(r.candidates)}`);
  assert.deepEqual(r.fuse.applied, []);
});
