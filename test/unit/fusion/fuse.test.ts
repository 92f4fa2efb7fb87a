/**
 * fuseCandidates as a whole: selection, blocked and refused candidates,
 * overlap, cleanup, what is preserved, external data, IR < 4.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { tempDir } from '../helpers/fixtures';
import { CancelledError, ModelFuseError } from '../../../extension/engine/errors';
import { fuseCandidates, scanAndFuse, selectCandidates } from '../../../extension/engine/fusion/fuse';
import { foldFor, FOLDS } from '../../../extension/engine/fusion/folds/index';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { checkGraph, removeDangling } from '../../../extension/engine/graph/cleanup';
import { onnx } from '../../../extension/engine/onnx/proto';
import { buildModel, candidate, countOps, positive, randn, runOrt, writeModel, type ModelSpec } from './helpers/build';
import { fuseAndCompare } from './helpers/fuseHelpers';
import { relativeToMax } from './helpers/numbers';

const dir = tempDir('modelfuse-fuse-');

/** x → conv1 → bn1 → relu1 → conv2 → bn2 → y, with shapes declared in value_info. */
function twoBlocks(): ModelSpec {
  const t = (name: string, dims: number[], seed: number, pos = false) => ({
    name,
    dims,
    values: pos ? positive(dims[0] * (dims[1] ?? 1) * (dims[2] ?? 1) * (dims[3] ?? 1), seed) : randn(dims.reduce((a, b) => a * b, 1), seed, 0.5),
  });
  return {
    inputs: [{ name: 'x', dims: [1, 3, 6, 6] }],
    outputs: [{ name: 'y', dims: [1, 4, 6, 6] }],
    valueInfo: [{ name: 'c1', dims: [1, 4, 6, 6] }, { name: 'b1', dims: [1, 4, 6, 6] }, { name: 'c2', dims: [1, 4, 6, 6] }],
    metadata: { author: 'test', license: 'MIT' },
    initializers: [
      t('w1', [4, 3, 3, 3], 1), t('g1', [4], 2), t('be1', [4], 3), t('m1', [4], 4), t('v1', [4], 5, true),
      t('w2', [4, 4, 3, 3], 6), t('g2', [4], 7), t('be2', [4], 8), t('m2', [4], 9), t('v2', [4], 10, true),
    ],
    nodes: [
      { op: 'Conv', name: 'conv1', inputs: ['x', 'w1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'BatchNormalization', name: 'bn1', inputs: ['c1', 'g1', 'be1', 'm1', 'v1'], outputs: ['b1'] },
      { op: 'Relu', name: 'relu1', inputs: ['b1'], outputs: ['r1'] },
      { op: 'Conv', name: 'conv2', inputs: ['r1', 'w2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'BatchNormalization', name: 'bn2', inputs: ['c2', 'g2', 'be2', 'm2', 'v2'], outputs: ['y'] },
    ],
  };
}

const X = { x: { dims: [1, 3, 6, 6], values: randn(108, 42) } };
const both = () => [candidate('conv-bn-relu', ['conv1', 'bn1', 'relu1'], ['conv1', 'bn1', 'relu1']), candidate('conv-bn', ['conv2', 'bn2'], ['conv2', 'bn2'])];

test('every registered fold is found by its pattern; grouping-only patterns have none', () => {
  for (const f of FOLDS) for (const p of f.patterns) assert.equal(foldFor(p), f);
  for (const p of ['conv-relu', 'linear-relu', 'bn-relu'] as const) assert.equal(foldFor(p), undefined);
});

test('after fusing: no dangling nodes, initializers or value_info; opset, IR version, producer and metadata preserved', async () => {
  const r = await fuseAndCompare(dir, 'two', twoBlocks(), both(), X);
  assert.deepEqual(r.report.applied.map((a) => a.id), ['conv-bn-relu:conv1', 'conv-bn:conv2']);
  const g = r.model.graph;
  assert.deepEqual(g.node!.map((n) => n.name), ['conv1', 'relu1', 'conv2']);
  assert.deepEqual(g.initializer!.map((t) => t.name).sort(), ['conv1.bias', 'conv2.bias', 'w1', 'w2'].sort());
  assert.deepEqual(g.value_info!.map((v) => v.name), ['b1'], 'value_info of the vanished Conv outputs is dropped, the surviving b1 kept');
  assert.deepEqual(r.report.cleanup.removedInitializers.sort(), ['be1', 'be2', 'g1', 'g2', 'm1', 'm2', 'v1', 'v2']);
  assert.equal(r.model.opset(), 17);
  assert.equal(Number(r.model.proto.ir_version), 8);
  assert.equal(r.model.proto.producer_name, 'modelfuse-test');
  assert.deepEqual(r.model.proto.metadata_props!.map((m) => [m.key, m.value]), [['author', 'test'], ['license', 'MIT']]);
  assert.deepEqual(checkGraph(g), []);
  r.model.close();
});

test('the journal records each changed tensor: role, node, before and after name/shape/type, storage', async () => {
  const r = await fuseAndCompare(dir, 'journal', twoBlocks(), both(), X);
  const [first] = r.report.applied;
  assert.deepEqual(first.changedTensors, [
    { role: 'weight', node: 'conv1', before: { name: 'w1', dims: [4, 3, 3, 3], dtype: 'float32' }, after: { name: 'w1', dims: [4, 3, 3, 3], dtype: 'float32' }, storage: 'overwritten' },
    { role: 'bias', node: 'conv1', before: null, after: { name: 'conv1.bias', dims: [4], dtype: 'float32' }, storage: 'added' },
  ]);
  assert.deepEqual(first.removedNodes, ['bn1']);
  assert.deepEqual(first.addedNodes, []);
  assert.deepEqual(first.modules, ['conv1', 'bn1', 'relu1']);
  r.model.close();
});

test('overwriteBuffers: false leaves the loaded bytes alone and stores new tensors instead', async () => {
  const file = writeModel(dir, 'nooverwrite.onnx', twoBlocks());
  const model = OnnxModel.load(file);
  const before = Buffer.from(model.fileBytes);
  const report = fuseCandidates(model, both(), { overwriteBuffers: false });
  assert.deepEqual(report.applied.flatMap((a) => a.changedTensors.map((c) => c.storage)), ['replaced', 'added', 'replaced', 'added']);
  assert.ok(before.equals(model.fileBytes), 'the file buffer is untouched');
  model.close();
});

test('selection: default = every exact fold; --patterns and --only filter; unknown names and ids are errors', () => {
  const cands = [...both(), candidate('conv-relu', ['conv9', 'relu9'])];
  assert.deepEqual(selectCandidates(cands).map((c) => c.id), ['conv-bn-relu:conv1', 'conv-bn:conv2']);
  assert.deepEqual(selectCandidates(cands, { patterns: ['conv-bn'] }).map((c) => c.id), ['conv-bn:conv2']);
  assert.deepEqual(selectCandidates(cands, { only: ['conv-bn-relu:conv1'] }).map((c) => c.id), ['conv-bn-relu:conv1']);
  assert.deepEqual(selectCandidates(cands, { patterns: ['conv-relu'] }).map((c) => c.id), ['conv-relu:conv9']);
  assert.throws(() => selectCandidates(cands, { patterns: ['conv-bnn'] }), (e: unknown) => e instanceof ModelFuseError && /unknown pattern 'conv-bnn' \(known: conv-bn,/.test(e.message));
  assert.throws(() => selectCandidates(cands, { only: ['conv-bn:nope'] }), (e: unknown) => e instanceof ModelFuseError && /no candidate with id 'conv-bn:nope'/.test(e.message));
});

test('blocked candidates and grouping-only ones asked for explicitly are skipped with their reason, never fused', async () => {
  const blocked = candidate('conv-bn', ['conv2', 'bn2'], undefined, { blocked: 'BatchNormalization bn2 is in training mode' });
  const file = writeModel(dir, 'blocked.onnx', twoBlocks());
  const model = OnnxModel.load(file);
  const report = fuseCandidates(model, [candidate('conv-relu', ['conv1', 'relu1']), blocked], { patterns: ['conv-relu', 'conv-bn'] });
  assert.deepEqual(report.applied, []);
  assert.deepEqual(report.skipped.map((s) => s.id), ['conv-relu:conv1', 'conv-bn:conv2']);
  assert.match(report.skipped[0].reason, /grouping for PyTorch's fuse_modules/);
  assert.equal(report.skipped[1].reason, 'BatchNormalization bn2 is in training mode');
  assert.equal(countOps(model, 'BatchNormalization'), 2);
  model.close();
});

test('overlapping candidates: the second one finds its node already folded and is skipped', async () => {
  const r = await fuseAndCompare(dir, 'overlap', twoBlocks(), [candidate('conv-bn', ['conv1', 'bn1']), candidate('conv-bn-relu', ['conv1', 'bn1', 'relu1'])], X);
  assert.equal(r.report.applied.length, 1);
  assert.match(r.report.skipped[0].reason, /node 'bn1' was already folded away/);
  r.model.close();
});

test('the fold double-checks what scan should have blocked: training-mode BN, computed BN parameters', async () => {
  const training = twoBlocks();
  training.opset = 15;
  training.nodes[4] = { ...training.nodes[4], attrs: { training_mode: 1 }, outputs: ['y', 'rm', 'rv'] };
  const m1 = OnnxModel.fromBytes('training.onnx', Buffer.from(buildModel(training)));
  const r1 = fuseCandidates(m1, [candidate('conv-bn', ['conv2', 'bn2'])]);
  assert.match(r1.skipped[0].reason, /training/);

  const computed = twoBlocks();
  computed.inputs.push({ name: 'g2', dims: [4] }); // BN scale fed at run time: an initializer that is also a graph input
  const m2 = OnnxModel.fromBytes('computed.onnx', Buffer.from(buildModel(computed)));
  const r2 = fuseCandidates(m2, [candidate('conv-bn', ['conv2', 'bn2'])]);
  assert.match(r2.skipped[0].reason, /scale 'g2' is a graph input with a default: callers may override it/);

  const wrongOp = fuseCandidates(OnnxModel.fromBytes('w.onnx', Buffer.from(buildModel(twoBlocks()))), [candidate('conv-bn', ['relu1', 'conv2'])]);
  assert.match(wrongOp.skipped[0].reason, /node 'relu1' is Relu, expected Conv/);
});

test('cancellation stops between folds', () => {
  const model = OnnxModel.fromBytes('c.onnx', Buffer.from(buildModel(twoBlocks())));
  assert.throws(() => fuseCandidates(model, both(), { cancel: { cancelled: true } }), CancelledError);
});

test('external data: weights read from model.onnx.data, folded, and the result runs in ONNX Runtime', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
  const embedded = OnnxModel.fromBytes(path.join(sub, 'src.onnx'), Buffer.from(buildModel(twoBlocks())));
  const externalFile = path.join(sub, 'model.onnx');
  await saveModel(embedded, externalFile, { embeddedLimit: 0, externalizeMinBytes: 0 });
  const model = OnnxModel.load(externalFile);
  assert.ok(model.graph.initializer!.every((t) => t.data_location === onnx.TensorProto.DataLocation.EXTERNAL));
  const report = fuseCandidates(model, both());
  assert.equal(report.applied.length, 2);
  const out = path.join(sub, 'fused.onnx');
  await saveModel(model, out);
  model.close();
  const before = await runOrt(externalFile, X);
  const after = await runOrt(out, X);
  assert.ok(relativeToMax(after.y, before.y) < 1e-5);
});

test('IR 3 model (initializers listed as inputs) with Constant-node weights: new initializers are declared as inputs too', async () => {
  const spec = twoBlocks();
  spec.irVersion = 3;
  spec.opset = 9;
  spec.constants = spec.initializers;
  spec.initializers = [];
  const r = await fuseAndCompare(dir, 'ir3', spec, both(), X);
  assert.equal(r.report.applied.length, 2, JSON.stringify(r.report.skipped));
  const inputs = new Set(r.model.graph.input!.map((i) => i.name));
  for (const t of r.model.graph.initializer!) assert.ok(inputs.has(t.name), `${t.name} is declared as a graph input`);
  assert.equal(countOps(r.model, 'Constant'), 0);
  r.model.close();
});

test('cleanup removes only what an edit released: dead code the model already had stays', () => {
  const spec = twoBlocks();
  spec.nodes.push({ op: 'Sigmoid', name: 'dead', inputs: ['r1'], outputs: ['unused'] });
  const model = OnnxModel.fromBytes('dead.onnx', Buffer.from(buildModel(spec)));
  fuseCandidates(model, both());
  assert.ok(model.graph.node!.some((n) => n.name === 'dead'));
  const swept = removeDangling(model.graph);
  assert.deepEqual(swept.removedNodes, ['dead'], 'a full sweep (no seeds) would remove it');
});

test('scanAndFuse repeats until nothing folds: BatchNorm spelled out as Conv → Mul → Add (tf2onnx style) ends as one Conv', async () => {
  const spec: ModelSpec = {
    inputs: [{ name: 'x', dims: [1, 3, 6, 6] }],
    outputs: [{ name: 'y' }],
    initializers: [
      { name: 'w', dims: [4, 3, 3, 3], values: randn(108, 1) },
      { name: 'scale', dims: [4, 1, 1], values: positive(4, 2) },
      { name: 'shift', dims: [1, 4, 1, 1], values: randn(4, 3) },
      { name: 'shift2', dims: [4, 1, 1], values: randn(4, 4) },
    ],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['c'] },
      { op: 'Mul', name: 'mul', inputs: ['c', 'scale'], outputs: ['m'] },
      { op: 'Add', name: 'add', inputs: ['m', 'shift'], outputs: ['a'] },
      { op: 'Add', name: 'add2', inputs: ['a', 'shift2'], outputs: ['y'] },
    ],
  };
  const file = writeModel(dir, 'chain.onnx', spec);
  const model = OnnxModel.load(file);
  const report = scanAndFuse(model);
  assert.deepEqual(report.applied.map((a) => a.pattern), ['conv-mul', 'conv-add', 'conv-add']);
  assert.equal(new Set(report.applied.map((a) => a.id)).size, 3, 'applied ids stay unique across passes');
  assert.deepEqual(model.graph.node!.map((n) => n.op_type), ['Conv']);
  const out = path.join(dir, 'chain.fused.onnx');
  await saveModel(model, out);
  model.close();
  const before = await runOrt(file, X);
  const after = await runOrt(out, X);
  assert.ok(relativeToMax(after.y, before.y) < 1e-5);
});
