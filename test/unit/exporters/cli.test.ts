/**
 * The CLI on exporter-style models, end to end: `scan --json` names unnamed
 * nodes by address, `fuse --verify --json` folds them, keeps external data in
 * a subfolder working, and ONNX Runtime in the worker confirms the outputs;
 * overridable (IR < 4 style) parameters come back as skipped with a reason.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { GraphBuilder, modelProto, type ConstantStorage } from './exporterGraph';
import { writeModel } from '../helpers/onnxBuilder';

const dir = tempDir('modelfuse-exporters-cli-');

function cli(...args: string[]): { code: number; json: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`not JSON (exit ${r.status}): ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
  return { code: r.status ?? -1, json, stderr: r.stderr };
}

/** Unnamed Conv → BN → Relu (onnx.helper defaults). */
function unnamedConvBnRelu(storage: ConstantStorage): GraphBuilder {
  const g = new GraphBuilder();
  g.input('x', ['N', 3, 8, 8]).output('y');
  const w = g.constant('features.0.weight', [8, 3, 3, 3], { storage });
  const bn = g.batchNormParams(['features.1.weight', 'features.1.bias', 'features.1.running_mean', 'features.1.running_var'], 8, storage);
  g.node('Conv', '', ['x', w], ['c'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', '', ['c', ...bn], ['b']);
  g.node('Relu', '', ['b'], ['y']);
  return g;
}

test('CLI: scan and fuse --verify on an unnamed-node model with external data in weights/', () => {
  const file = writeModel(path.join(dir, 'unnamed', 'model.onnx'), modelProto(unnamedConvBnRelu('initializer'), { opset: 13, irVersion: 8, producer: 'onnx.helper' }),
    { location: 'weights/w.bin', names: ['features.0.weight', 'features.1.weight', 'features.1.bias', 'features.1.running_mean', 'features.1.running_var'] });
  const scan = cli('scan', file, '--json');
  assert.equal(scan.code, 0, scan.stderr);
  const candidates = scan.json.candidates as { id: string; nodes: string[]; modules: (string | null)[]; blocked: string | null }[];
  assert.deepEqual(candidates.map((c) => [c.id, c.nodes, c.modules, c.blocked]), [
    ['conv-bn-relu:Conv#0', ['Conv#0', 'BatchNormalization#1', 'Relu#2'], ['features.0', 'features.1', null], null],
  ]);
  const out = path.join(dir, 'unnamed', 'fused.onnx');
  const fuse = cli('fuse', file, '-o', out, '--verify', '--json');
  assert.equal(fuse.code, 0, fuse.stderr);
  assert.deepEqual((fuse.json.applied as { id: string }[]).map((a) => a.id), ['conv-bn-relu:Conv#0']);
  const verification = fuse.json.verification as { passed: boolean; outputs: Record<string, { max_rel: number }> };
  assert.equal(verification.passed, true);
  assert.ok(verification.outputs.y.max_rel < 1e-4, `max_rel ${verification.outputs.y.max_rel}`);
});

test('CLI: fuse on a model whose initializers are all graph inputs (IR 3) writes the model unchanged and says why in skipped', () => {
  const file = writeModel(path.join(dir, 'ir3', 'model.onnx'), modelProto(unnamedConvBnRelu('graph-input'), { opset: 9, irVersion: 3, producer: 'PaddlePaddle' }));
  const out = path.join(dir, 'ir3', 'fused.onnx');
  const fuse = cli('fuse', file, '-o', out, '--json');
  assert.equal(fuse.code, 0, fuse.stderr);
  assert.deepEqual(fuse.json.applied, []);
  assert.deepEqual(fuse.json.skipped, [
    { id: 'conv-bn-relu:Conv#0', reason: "Conv weight 'features.0.weight' is also a graph input, so it can change at run time" },
  ]);
});
