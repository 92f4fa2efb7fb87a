/**
 * Models shaped the way PyTorch's exporter wrote them before module scopes
 * existed in node names (torch 1.2–1.11, opsets 9/11): nodes `Conv_0`,
 * `BatchNormalization_1`, numeric value names (`input.1`, `123`), state-dict
 * initializer names of an nn.Sequential (`0.weight`, `1.running_mean`),
 * weights the exporter itself folded (`onnx::Conv_123`), and the torch ≤ 1.3
 * default of listing every initializer among the graph inputs.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { buildFuseList } from '../../../extension/engine/fusion/fuseList';
import { GraphBuilder, modelProto, type ConstantStorage } from './exporterGraph';
import { appliedPatterns, describeCandidates, expectBlocked, expectFusable, opCount, runPipeline } from './pipeline';
import { writeModel } from '../helpers/onnxBuilder';

const dir = tempDir('modelfuse-oldtorch-');

/** nn.Sequential(Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear) as torch 1.4 exported it at opset 9. */
function sequential(storage: ConstantStorage): GraphBuilder {
  const g = new GraphBuilder();
  g.input('input.1', [1, 3, 8, 8]).output('14', [1, 4]);
  const w = g.constant('0.weight', [8, 3, 3, 3], { storage });
  const b = g.constant('0.bias', [8], { storage });
  const bn = g.batchNormParams(['1.weight', '1.bias', '1.running_mean', '1.running_var'], 8, storage);
  const fw = g.constant('5.weight', [4, 8], { storage });
  const fb = g.constant('5.bias', [4], { storage });
  g.node('Conv', 'Conv_0', ['input.1', w, b], ['9'], { dilations: [1, 1], group: 1, kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  g.node('BatchNormalization', 'BatchNormalization_1', ['9', ...bn], ['10'], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } });
  g.node('Relu', 'Relu_2', ['10'], ['11']);
  g.node('GlobalAveragePool', 'GlobalAveragePool_3', ['11'], ['12']);
  g.node('Flatten', 'Flatten_4', ['12'], ['13'], { axis: 1 });
  g.node('Gemm', 'Gemm_5', ['13', fw, fb], ['14'], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 });
  return g;
}

test('torch 1.4-style nn.Sequential at opset 9 (Conv_0, 1.running_mean, numeric values): conv-bn-relu folds, modules come from the state-dict names', async () => {
  const file = writeModel(path.join(dir, 'sequential-opset9.onnx'), modelProto(sequential('initializer'), { opset: 9, irVersion: 4, producer: 'pytorch', producerVersion: '1.4' }));
  const r = await runPipeline(file, { 'input.1': { dims: [1, 3, 8, 8] } });
  const c = expectFusable(r.candidates, 'conv-bn-relu', ['Conv_0', 'BatchNormalization_1', 'Relu_2']);
  // The children of an nn.Sequential are modules '0', '1', …; the ReLU has no parameter to name it.
  assert.deepEqual(c.modules, ['0', '1', null]);
  assert.deepEqual(appliedPatterns(r), ['conv-bn-relu:Conv_0+BatchNormalization_1+Relu_2']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const conv = r.fused.graph.node.find((n) => n.op_type === 'Conv')!;
  assert.deepEqual(conv.input, ['input.1', '0.weight', '0.bias']);
  assert.equal(conv.output?.[0], '10', 'the Conv produces what the BatchNorm produced');
});

test('torch 1.4-style Sequential without the ReLU: fuse-list offers [\'0\', \'1\'] (a valid fuse_modules group for nn.Sequential)', () => {
  const g = sequential('initializer');
  // Drop the ReLU: the pool reads the BatchNorm directly.
  g.parts.node = g.parts.node.filter((n) => n.op_type !== 'Relu');
  g.parts.node.find((n) => n.op_type === 'GlobalAveragePool')!.input = ['10'];
  const file = writeModel(path.join(dir, 'sequential-no-relu.onnx'), modelProto(g, { opset: 9, irVersion: 4, producer: 'pytorch', producerVersion: '1.4' }));
  const list = buildFuseList(analyzeModel(OnnxModel.load(file)));
  assert.deepEqual(list.groups.map((x) => x.modules), [['0', '1']]);
});

test('torch 1.2-style export: every initializer also a graph input (IR 4) — each fold is reported blocked, nothing is folded', async () => {
  const file = writeModel(path.join(dir, 'sequential-inputs.onnx'), modelProto(sequential('graph-input'), { opset: 9, irVersion: 4, producer: 'pytorch', producerVersion: '1.2' }));
  const r = await runPipeline(file, { 'input.1': { dims: [1, 3, 8, 8] } });
  expectBlocked(r.candidates, 'conv-bn-relu', ['Conv_0', 'BatchNormalization_1', 'Relu_2'], /Conv weight '0\.weight' is also a graph input, so it can change at run time/);
  assert.deepEqual(r.fuse.applied, []);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 1);
});

test('torch 1.12-style eval export at opset 11: BatchNorm already folded by the exporter (onnx::Conv_123), only conv-relu groupings remain', async () => {
  const g = new GraphBuilder();
  g.input('input', ['batch_size', 3, 8, 8]).output('output');
  const w1 = g.constant('onnx::Conv_123', [8, 3, 3, 3]);
  const b1 = g.constant('onnx::Conv_124', [8]);
  const w2 = g.constant('onnx::Conv_126', [8, 1, 3, 3]);
  const b2 = g.constant('onnx::Conv_127', [8]);
  g.node('Conv', 'Conv_0', ['input', w1, b1], ['input.4'], { pads: [1, 1, 1, 1] });
  g.node('Relu', 'Relu_1', ['input.4'], ['onnx::Conv_125']);
  g.node('Conv', 'Conv_2', ['onnx::Conv_125', w2, b2], ['input.8'], { pads: [1, 1, 1, 1], group: 8 });
  g.node('Relu', 'Relu_3', ['input.8'], ['output']);
  const file = writeModel(path.join(dir, 'eval-folded.onnx'), modelProto(g, { opset: 11, irVersion: 6, producer: 'pytorch', producerVersion: '1.12.1' }));
  const r = await runPipeline(file, { input: { dims: [2, 3, 8, 8] } });
  expectFusable(r.candidates, 'conv-relu', ['Conv_0', 'Relu_1']);
  expectFusable(r.candidates, 'conv-relu', ['Conv_2', 'Relu_3']);
  assert.equal(r.candidates.length, 2, describeCandidates(r.candidates));
  assert.deepEqual(r.fuse.applied, [], 'groupings fold nothing');
  assert.equal(r.fuse.nodesAfter, r.fuse.nodesBefore);
});

test('torch ≤ 1.4 wrote no node names: unnamed nodes still get their modules from the state-dict names, and fuse-list offers them', async () => {
  const g = sequential('initializer');
  g.parts.node = g.parts.node.filter((n) => n.op_type !== 'Relu');
  g.parts.node.find((n) => n.op_type === 'GlobalAveragePool')!.input = ['10'];
  for (const n of g.parts.node) n.name = '';
  const file = writeModel(path.join(dir, 'sequential-unnamed.onnx'), modelProto(g, { opset: 9, irVersion: 4, producer: 'pytorch', producerVersion: '1.1' }));
  const r = await runPipeline(file, { 'input.1': { dims: [1, 3, 8, 8] } });
  const c = expectFusable(r.candidates, 'conv-bn', ['Conv#0', 'BatchNormalization#1']);
  assert.deepEqual(c.modules, ['0', '1']);
  assert.equal(opCount(r.fused, 'BatchNormalization'), 0);
  const list = buildFuseList(analyzeModel(OnnxModel.load(file)));
  assert.deepEqual(list.groups, [{ modules: ['0', '1'], types: ['Conv2d', 'BatchNorm2d'] }]);
});

test('TorchScript de-duplicated parameters (bn2.bias = Identity(bn1.bias)) and a Reshape(-1)/Squeeze-relabelled scale are constants: both blocks fold', async () => {
  const g = new GraphBuilder();
  g.input('input', [1, 4, 6, 6]).output('output');
  const zeros = [0, 0, 0, 0];
  const ones = [1, 1, 1, 1];
  g.constant('bn1.weight', [4], { values: ones });
  g.constant('bn1.bias', [4], { values: zeros });
  g.constant('bn1.running_mean', [4], { scale: 0.3 });
  g.constant('bn1.running_var', [4], { positive: true });
  g.node('Identity', 'Identity_0', ['bn1.weight'], ['bn2.weight']);
  g.node('Identity', 'Identity_1', ['bn1.bias'], ['bn2.bias']);
  g.constant('bn2.running_mean', [4], { scale: 0.3 });
  g.constant('bn2.running_var', [4], { positive: true });
  const w1 = g.constant('conv1.weight', [4, 4, 3, 3]);
  const w2 = g.constant('conv2.weight', [4, 4, 1, 1]);
  g.node('Conv', '/conv1/Conv', ['input', w1], ['/conv1/Conv_output_0'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', '/bn1/BatchNormalization', ['/conv1/Conv_output_0', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], ['/bn1/BatchNormalization_output_0']);
  g.node('Conv', '/conv2/Conv', ['/bn1/BatchNormalization_output_0', w2], ['/conv2/Conv_output_0']);
  g.node('BatchNormalization', '/bn2/BatchNormalization', ['/conv2/Conv_output_0', 'bn2.weight', 'bn2.bias', 'bn2.running_mean', 'bn2.running_var'], ['/bn2/BatchNormalization_output_0']);
  // scale.view(1, -1, 1, 1) of a [1, 4, 1, 1, 1] parameter squeezed back: exporters without constant folding keep both ops.
  g.constant('scale', [1, 4, 1, 1, 1], { positive: true });
  g.node('Squeeze', '/Squeeze', ['scale', g.constant('axes', [1], { values: [4], dtype: 7 })], ['/Squeeze_output_0']);
  g.node('Reshape', '/Reshape', ['/Squeeze_output_0', g.constant('shape', [4], { values: [1, -1, 1, 0], dtype: 7 })], ['/Reshape_output_0']);
  g.node('Mul', '/Mul', ['/bn2/BatchNormalization_output_0', '/Reshape_output_0'], ['output']);
  const file = writeModel(path.join(dir, 'dedup-identity.onnx'), modelProto(g, { opset: 13, irVersion: 7, producer: 'pytorch', producerVersion: '1.13.1' }));
  const r = await runPipeline(file, { input: { dims: [1, 4, 6, 6] } });
  expectFusable(r.candidates, 'conv-bn', ['/conv1/Conv', '/bn1/BatchNormalization']);
  expectFusable(r.candidates, 'conv-bn', ['/conv2/Conv', '/bn2/BatchNormalization']);
  assert.deepEqual(r.fused.graph.node.map((n) => n.op_type), ['Conv', 'Conv'], 'BNs, Mul and every relabelling node are gone');
});
