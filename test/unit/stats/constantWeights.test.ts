/**
 * Weights held in Constant nodes (paddle2onnx, tf2onnx; also inside If/Loop
 * bodies) are parameters: counted in the overview, and paired across models
 * in the parameter diff by node address, reader, content or module — so a
 * fold on a paddle2onnx-style model shows changed tensors, not "added" ones.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { DataType } from '../../../extension/engine/onnx/proto';
import { saveModel } from '../../../extension/engine/onnx/save';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { fuseCandidates } from '../../../extension/engine/fusion/fuse';
import { constantNodeWeights, isWeightLike } from '../../../extension/engine/graph/constantWeights';
import { computeParamDiff } from '../../../extension/engine/stats/paramDiff';
import { OnnxParamSource, type ParamInfo, type ParamSource } from '../../../extension/engine/stats/paramSource';
import { pairByPlace, type NamePair } from '../../../extension/engine/stats/placePairing';
import type { FoldRecord } from '../../../extension/engine/stats/paramDiffTypes';
import { onnxParameters } from '../../../extension/workerProcess/handlers/modelOverview';
import { GraphBuilder, modelProto } from '../exporters/exporterGraph';
import { makeTensor, writeModel } from '../helpers/onnxBuilder';
import { tempDir } from '../helpers/fixtures';
import { writeFpnModel } from './dynamicModels';

const dir = tempDir();

test('Constant-node weights count as parameters, as the same weights in initializers do; shape vectors and scalars do not', () => {
  const asInit = OnnxModel.load(writeFpnModel(dir, 'init.onnx', 'initializer'));
  const asConst = OnnxModel.load(writeFpnModel(dir, 'const.onnx', 'constant-node'));
  const a = onnxParameters(asInit.graph);
  const b = onnxParameters(asConst.graph);
  assert.equal(b.count, a.count);
  assert.equal(b.bytes, a.bytes);
  assert.equal(b.tensors, a.tensors);
  assert.equal(b.constantNodeTensors, 8, 'conv1 kernel and bias, 4 BN vectors, conv2 and head kernels');
  assert.equal(a.constantNodeTensors, undefined);
  asInit.close();
  asConst.close();
  const scalar = makeTensor('', DataType.FLOAT, [], [1e-5], { raw: false });
  const shape = makeTensor('', DataType.INT64, [4], [1, -1, 8, 8], { raw: false });
  const quantized = makeTensor('', DataType.INT8, [32], new Array<number>(32).fill(0));
  assert.deepEqual([scalar, shape, quantized].map(isWeightLike), [false, false, true]);
});

test('Constant-node weights inside an If branch are found, with the address of the branch', () => {
  const branch = new GraphBuilder();
  branch.constant('then_w', [4, 4], { storage: 'constant-node', nodeName: 'w_const' });
  branch.node('MatMul', 'mm', ['x', 'then_w'], ['t']);
  branch.output('t', [2, 4]);
  const other = new GraphBuilder();
  other.node('Identity', 'id', ['x'], ['e']);
  other.output('e', [2, 4]);
  const g = new GraphBuilder();
  g.input('x', [2, 4]).input('cond', [], DataType.BOOL).output('y', [2, 4]);
  g.node('If', 'gate', ['cond'], ['y'], { then_branch: { graph: branch.graph('then') }, else_branch: { graph: other.graph('else') } });
  const model = OnnxModel.load(writeModel(path.join(dir, 'if.onnx'), modelProto(g, { opset: 13, irVersion: 7, producer: 'tf2onnx' })));
  const found = constantNodeWeights(model.graph);
  assert.deepEqual(found.map((c) => [c.name, c.address]), [['then_w', 'gate/then_branch/w_const']]);
  assert.equal(onnxParameters(model.graph).count, 16);
  const source = new OnnxParamSource(model);
  assert.deepEqual(source.names(), ['then_w']);
  source.close();
});

test('a conv-bn fold on a paddle2onnx-style model: kernels and biases are "changed", paired with their Constant nodes, never "added"', async () => {
  const src = writeFpnModel(dir, 'paddle.onnx', 'constant-node');
  const model = OnnxModel.load(src);
  const report = fuseCandidates(model, scanModel(model).candidates.filter((c) => c.pattern === 'conv-bn-relu'));
  assert.equal(report.applied.length, 1);
  const out = path.join(dir, 'paddle.fused.onnx');
  await saveModel(model, out);
  model.close();
  const folds: FoldRecord[] = report.applied.map((a) => ({
    id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules, removedNodes: a.removedNodes,
    changedTensors: a.changedTensors.map((t) => ({
      role: t.role, node: t.node, before: t.before ? { name: t.before.name } : null, after: { name: t.after.name },
    })),
  }));
  const before = OnnxParamSource.open(src);
  const after = OnnxParamSource.open(out);
  const diff = computeParamDiff(before, after, { folds });
  assert.deepEqual(diff.changed.map((t) => [t.beforeName, t.status]).sort(), [['conv1.bias', 'changed'], ['conv1.weight', 'changed']]);
  assert.deepEqual(diff.removed.map((r) => r.name).sort(), ['bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.weight']);
  assert.equal(diff.unchangedCount, 3, 'conv2, head and the Resize scales are untouched');
  assert.equal(diff.before.parameters, onnxParameters(OnnxModel.load(src).graph).count);
  before.close();
  after.close();
});

test('Compare two exports whose Constant outputs were renamed: paired by node address and reader, not "added" and "removed"', async () => {
  const src = writeFpnModel(dir, 'renamed-a.onnx', 'constant-node');
  const model = OnnxModel.load(src);
  const rename = new Map<string, string>();
  model.graph.node.forEach((n, i) => {
    if (n.op_type !== 'Constant') return;
    n.name = `p2o.Constant.${i}`;
    rename.set(n.output![0], `tmp_${i}`);
  });
  const b = path.join(dir, 'renamed-b.onnx');
  const reference = OnnxModel.load(src); // the same nodes with the same names, before renaming values
  reference.graph.node.forEach((n, i) => { if (n.op_type === 'Constant') n.name = `p2o.Constant.${i}`; });
  const a = path.join(dir, 'named-a.onnx');
  await saveModel(reference, a);
  for (const n of model.graph.node) {
    n.output = n.output!.map((o) => rename.get(o) ?? o);
    n.input = n.input!.map((v) => rename.get(v) ?? v);
  }
  await saveModel(model, b);
  model.close();
  reference.close();
  const before = OnnxParamSource.open(a);
  const after = OnnxParamSource.open(b);
  const diff = computeParamDiff(before, after);
  assert.deepEqual(diff.changed, []);
  assert.deepEqual(diff.removed, []);
  assert.equal(diff.unchangedCount, before.names().length);
  before.close();
  after.close();
});

/** An in-memory ParamSource: each tensor with its bytes, module and place keys. */
class FakeSource implements ParamSource {
  constructor(readonly path: string, private readonly t: Record<string, { bytes: number[]; module?: string; keys?: string[] }>) {}
  names(): string[] { return Object.keys(this.t); }
  info(name: string): ParamInfo | undefined { return this.t[name] ? { dims: [this.t[name].bytes.length / 4], dtype: 1 } : undefined; }
  bytes(name: string): Uint8Array { return Uint8Array.from(this.t[name].bytes); }
  values(name: string): Float64Array { return new Float64Array(new Float32Array(this.bytes(name).buffer)); }
  moduleOf(name: string): string | null { return this.t[name]?.module ?? null; }
  placeKeys(name: string): string[] { return this.t[name]?.keys ?? []; }
  close(): void {}
}

test('pairing by place, then identical content, then module; ambiguous keys pair nothing', () => {
  const before = new FakeSource('a', {
    w0: { bytes: [1, 2, 3, 4], keys: ['reader:conv#1'] },
    same: { bytes: [9, 9, 9, 9] },
    mod: { bytes: [5, 0, 0, 0], module: 'layer1.conv' },
    twinA: { bytes: [7, 7, 7, 7], module: 'dup' },
    twinB: { bytes: [8, 8, 8, 8], module: 'dup' },
    gone: { bytes: [0, 0, 0, 1] },
  });
  const after = new FakeSource('b', {
    w1: { bytes: [4, 3, 2, 1], keys: ['reader:conv#1'] },
    renamed: { bytes: [9, 9, 9, 9] },
    modNew: { bytes: [6, 0, 0, 0], module: 'layer1.conv' },
    dupNew: { bytes: [1, 1, 1, 1], module: 'dup' },
    fresh: { bytes: [3, 3, 3, 3] },
  });
  const pairs: NamePair[] = after.names().map((n) => ({ after: n, before: null }));
  assert.equal(pairByPlace(before, after, pairs, new Set()), 3);
  assert.deepEqual(Object.fromEntries(pairs.map((p) => [p.after, p.before])), { w1: 'w0', renamed: 'same', modNew: 'mod', dupNew: null, fresh: null });
  const diff = computeParamDiff(before, after);
  assert.deepEqual(diff.changed.map((t) => [t.name, t.status]), [['dupNew', 'added'], ['fresh', 'added'], ['modNew', 'changed'], ['w1', 'changed']]);
  assert.equal(diff.unchangedCount, 1, 'the renamed, identical tensor');
  assert.deepEqual(diff.removed.map((r) => r.name), ['gone', 'twinA', 'twinB']);
});
