/**
 * The diff mode's alignment of two models, and "Locate drift" with real ONNX
 * Runtime: a fused ResNet-style export (real PyTorch 2.11 fixture) where one
 * fold is deliberately broken must rank that fold first, in the engine, in
 * the worker method and in `verify --per-node`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { onnx } from '../../../extension/engine/onnx/proto';
import { fuseModelFile } from '../../../extension/engine/fusion/fuse';
import { alignGraphs } from '../../../extension/engine/graph/graphAlign';
import { driftProbes, probeError, rankDrift } from '../../../extension/engine/graph/driftRank';
import { loadGraph, bytesEqual } from '../../../extension/workerProcess/handlers/graphModels';
import { locateDrift } from '../../../extension/workerProcess/ort/locateDrift';
import { fixture, tempDir } from '../helpers/fixtures';
import { encodeModel } from '../helpers/onnxBuilder';
import { testBundles } from '../worker/bundles';

const ORIGINAL = fixture('zoo_resstyle', 'model.onnx');
const IO = fixture('zoo_resstyle', 'io.safetensors');
const dir = tempDir();
const quiet = { progress: () => {}, throwIfCancelled: () => {} };

let fused: string | undefined;
async function fusedModel(): Promise<string> {
  if (fused) return fused;
  const out = path.join(dir, 'model.fused.onnx');
  await fuseModelFile(ORIGINAL, out);
  return (fused = out);
}

/** The fused model with one fold broken: blocks.0.conv2's folded bias shifted in its first channel. */
async function brokenModel(): Promise<string> {
  const proto = onnx.ModelProto.decode(fs.readFileSync(await fusedModel()));
  const bias = proto.graph!.initializer!.find((t) => t.name === 'blocks.0.conv2.bias');
  assert.ok(bias?.raw_data, 'the conv-bn fold gave blocks.0.conv2 a bias');
  const values = new Float32Array(Uint8Array.from(bias.raw_data).buffer);
  values[0] += 0.5;
  bias.raw_data = new Uint8Array(values.buffer);
  const out = path.join(dir, 'model.broken.onnx');
  fs.writeFileSync(out, encodeModel(proto));
  return out;
}

function withGraphs<T>(a: string, b: string, fn: (ga: ReturnType<typeof loadGraph>, gb: ReturnType<typeof loadGraph>) => T): T {
  const ga = loadGraph(a);
  const gb = loadGraph(b);
  try {
    return fn(ga, gb);
  } finally {
    ga.model.close();
    gb.model.close();
  }
}

test('after a fuse: BatchNorms removed, folded convs changed (new bias, new weights), the rest the same, aligned by address', async () => {
  const after = await fusedModel();
  withGraphs(ORIGINAL, after, (a, b) => {
    const al = alignGraphs(a.view, b.view, bytesEqual(a, b));
    assert.deepEqual(al.removed.sort(), a.view.nodes.filter((n) => n.op === 'BatchNormalization').map((n) => n.id).sort());
    assert.deepEqual(al.added, []);
    const conv = al.pairs.find((p) => p.a === '/conv1_1/Conv')!;
    assert.equal(conv.by, 'address');
    assert.equal(conv.change, 'changed');
    assert.ok(conv.details.some((d) => /blocks\.0\.conv1\.weight: values changed/.test(d)), conv.details.join('; '));
    assert.ok(conv.details.some((d) => /input 2: blocks\.0\.conv1\.bias added/.test(d)), conv.details.join('; '));
    for (const id of ['/relu/Relu', '/Add', '/relu_4/Relu']) assert.equal(al.changeInA[id], 'same', id);
    assert.equal(al.changeInA['/bn1/BatchNormalization'], 'removed');
    assert.equal(al.changeInB['/conv1/Conv'], 'changed');
  });
});

test('models whose node names differ are aligned by module path, op type and occurrence', async () => {
  const proto = onnx.ModelProto.decode(fs.readFileSync(ORIGINAL));
  // Another exporter's names: the module survives in the weight names only.
  for (const n of proto.graph!.node!) n.name = `renamed_${n.name}`;
  const renamed = path.join(dir, 'renamed.onnx');
  fs.writeFileSync(renamed, encodeModel(proto));
  withGraphs(ORIGINAL, renamed, (a, b) => {
    const al = alignGraphs(a.view, b.view, bytesEqual(a, b));
    const conv = al.pairs.find((p) => p.a === '/conv2/Conv');
    assert.ok(conv, 'the Conv of blocks.0.conv2 is found');
    assert.equal(conv.by, 'module');
    assert.equal(conv.b, 'renamed_/conv2/Conv');
    assert.equal(conv.change, 'same');
    // Every node with weights has a counterpart; parameter-free nodes of the model itself may not.
    for (const n of a.view.nodes.filter((x) => x.params.length)) assert.notEqual(al.changeInA[n.id], 'removed', n.id);
  });
});

test('drift ranking: the probe that introduces the error comes before the probes it propagates to', () => {
  const b = { nodes: [
    { id: 'c1', op: 'Conv', domain: '', module: 'c1', modules: ['c1'], box: 'c1', inputs: ['x'], outputs: ['v1'], params: [], sequences: [] },
    { id: 'c2', op: 'Conv', domain: '', module: 'c2', modules: ['c2'], box: 'c2', inputs: ['v1'], outputs: ['v2'], params: [], sequences: [] },
    { id: 'r', op: 'Relu', domain: '', module: 'r', modules: ['r'], box: 'r', inputs: ['v2'], outputs: ['v3'], params: [], sequences: [] },
  ], modules: [], edges: [], inputs: [], outputs: [], values: [], sequences: [], hiddenNodes: 0 };
  const probes = [
    { value: 'v1', node: 'c1', module: 'c1', kind: 'fold' as const },
    { value: 'v2', node: 'c2', module: 'c2', kind: 'fold' as const },
    { value: 'v3', node: 'r', module: 'r', kind: 'module' as const },
  ];
  // c2 is broken (0.2); the error grows downstream (0.5): more introduced there, but drift starts at c2.
  const errors = new Map([
    ['v1', probeError('v1', [1, 2, 3], [1, 2, 3])],
    ['v2', { value: 'v2', relError: 0.2, maxAbs: 1, elements: 3 }],
    ['v3', { value: 'v3', relError: 0.5, maxAbs: 2, elements: 3 }],
  ]);
  const ranked = rankDrift(b, probes, errors);
  assert.deepEqual(ranked.map((e) => e.value), ['v2', 'v3', 'v1']);
  assert.deepEqual(ranked.map((e) => e.origin), [true, false, false]);
  assert.equal(ranked[0].introduced, 0.2);
  assert.ok(Math.abs(ranked[1].introduced - 0.3) < 1e-12);
  assert.deepEqual(ranked[1].upstream, ['v2']);
  assert.equal(errors.get('v1')!.relError, 0);
  assert.ok(Math.abs(probeError('v', [3, 4], [3, 4.5]).relError - 0.1) < 1e-12, '‖Δ‖/‖a‖ = 0.5/5');
});

test('Locate drift on a fused model with one broken fold points at that fold first (real ONNX Runtime)', async () => {
  const broken = await brokenModel();
  const report = await locateDrift({ modelA: ORIGINAL, modelB: broken, inputs: IO, batch: 4 }, quiet);
  assert.ok(report.batches >= 3, 'probes compared a batch at a time');
  const first = report.entries[0];
  assert.equal(first.node, '/conv2/Conv');
  assert.equal(first.module, 'blocks.0.conv2');
  assert.equal(first.value, '/bn2/BatchNormalization_output_0', 'the folded Conv writes the BN output it replaced');
  assert.equal(first.kind, 'fold');
  assert.equal(first.origin, true, 'drift starts there');
  assert.equal(report.entries.filter((e) => e.origin).length, 1, 'and nowhere else');
  assert.ok(first.introduced > 1e-2, String(first.introduced));
  // Probes upstream of the break are exact to float32 rounding.
  for (const v of ['/bn1/BatchNormalization_output_0', '/bn1_1/BatchNormalization_output_0']) {
    assert.ok(report.entries.find((e) => e.value === v)!.relError < 1e-5, v);
  }

  const exact = await locateDrift({ modelA: ORIGINAL, modelB: await fusedModel(), inputs: IO }, quiet);
  assert.ok(exact.entries.length >= 6);
  for (const e of exact.entries) assert.ok(e.relError < 1e-5, `${e.value}: ${e.relError}`);
});

test('verify --per-node prints the ranking with the broken fold first; --json carries it as per_node', async () => {
  const broken = await brokenModel();
  const run = (...args: string[]) => spawnSync(process.execPath, [testBundles().cli, 'verify', ORIGINAL, broken, '--inputs', IO, '--runs', '0', '--per-node', ...args], { encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  const text = run();
  assert.equal(text.status, 1, text.stderr);
  const lines = text.stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('per node:'));
  assert.ok(header > 0, text.stdout);
  assert.match(lines[header + 2], /^\s+1\s.*\/conv2\/Conv \(blocks\.0\.conv2\) → \/bn2\/BatchNormalization_output_0/);
  const json = JSON.parse(run('--json').stdout);
  assert.equal(json.per_node.entries[0].node, '/conv2/Conv');
  assert.equal(json.passed, false);
});

test('Locate drift refuses a model it cannot read with one line naming the file', async () => {
  const bad = path.join(dir, 'garbage.onnx');
  fs.writeFileSync(bad, 'not a model');
  await assert.rejects(locateDrift({ modelA: ORIGINAL, modelB: bad }, quiet), (err: Error) => err.message.includes(bad) && !err.message.includes('\n'));
  assert.ok(OnnxModel.load(ORIGINAL), 'the original is untouched and still loads');
});

test('drift probes: folded nodes and module boundaries present in both models', async () => {
  const after = await fusedModel();
  withGraphs(ORIGINAL, after, (a, b) => {
    const probes = driftProbes(a.view, b.view, alignGraphs(a.view, b.view, bytesEqual(a, b)));
    const folds = probes.filter((p) => p.kind === 'fold').map((p) => p.node);
    assert.deepEqual(folds.sort(), ['/conv1/Conv', '/conv1_1/Conv', '/conv1_2/Conv', '/conv2/Conv', '/conv2_1/Conv', '/head/head.0/Conv'].sort());
    assert.ok(probes.some((p) => p.kind === 'module'));
    const producedInA = new Set(a.view.nodes.flatMap((n) => n.outputs));
    for (const p of probes) assert.ok(producedInA.has(p.value), p.value);
  });
});
