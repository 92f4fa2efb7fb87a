import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { expandName, freeOutputPath, patternProblem } from '../../../extension/host/outputNaming';
import { readSettings, DEFAULTS } from '../../../extension/host/settings';

const dir = path.join(path.sep, 'work', 'models');
const model = path.join(dir, 'model.onnx');

test('the default pattern writes model.fused.onnx beside the model', () => {
  assert.equal(freeOutputPath(model, '${name}.fused${ext}', () => false), path.join(dir, 'model.fused.onnx'));
});

test('taken names get -2, -3 before the extension; the external-data file counts as taken too', () => {
  const taken = new Set([path.join(dir, 'model.fused.onnx'), path.join(dir, 'model.fused-2.onnx.data')]);
  assert.equal(freeOutputPath(model, '${name}.fused${ext}', (p) => taken.has(p)), path.join(dir, 'model.fused-3.onnx'));
});

test('a pattern that expands to the input itself is skipped, never overwritten', () => {
  assert.equal(freeOutputPath(model, '${name}${ext}', () => false), path.join(dir, 'model-2.onnx'));
});

test('when every name is taken the error names the model', () => {
  assert.throws(() => freeOutputPath(model, '${name}.fused${ext}', () => true, 5), (e: Error) => e.message.startsWith(model) && /no free output name/.test(e.message));
});

test('patterns: ${name} required, no separators, no unknown variables', () => {
  assert.equal(patternProblem('${name}.fused${ext}'), null);
  assert.match(String(patternProblem('fused.onnx')), /\$\{name\}/);
  assert.match(String(patternProblem('out/${name}${ext}')), /must not contain/);
  assert.match(String(patternProblem('${name}-${date}${ext}')), /unknown variable \$\{date\}/);
  assert.equal(expandName('/a/b/resnet.v2.onnx', 'fused_${name}${ext}'), 'fused_resnet.v2.onnx');
  assert.equal(expandName('/a/b/adapter.safetensors', '${name}.merged${ext}'), 'adapter.merged.safetensors');
});

test('settings: defaults when unset, valid values kept', () => {
  assert.deepEqual(readSettings(() => undefined), { settings: DEFAULTS, problems: [] });
  const values: Record<string, unknown> = { 'verify.afterFuse': false, 'verify.atol': 1e-6, 'verify.rtol': 0, 'output.fusedName': '${name}_fused${ext}', 'worker.threads': 4 };
  const { settings, problems } = readSettings((k) => values[k]);
  assert.deepEqual(problems, []);
  assert.equal(settings.verifyAfterFuse, false);
  assert.equal(settings.atol, 1e-6);
  assert.equal(settings.rtol, 0);
  assert.equal(settings.fusedName, '${name}_fused${ext}');
  assert.equal(settings.workerThreads, 4);
});

test('settings: each invalid value is named and replaced by its default', () => {
  const values: Record<string, unknown> = { 'verify.atol': -1, 'verify.rtol': 'x', 'output.fusedName': '../${name}', 'worker.threads': 2.5, 'verify.afterFuse': 'yes' };
  const { settings, problems } = readSettings((k) => values[k]);
  assert.equal(settings.atol, DEFAULTS.atol);
  assert.equal(settings.rtol, DEFAULTS.rtol);
  assert.equal(settings.fusedName, DEFAULTS.fusedName);
  assert.equal(settings.workerThreads, 0);
  assert.equal(settings.verifyAfterFuse, true);
  assert.equal(problems.length, 5);
  for (const key of ['verify.atol', 'verify.rtol', 'output.fusedName', 'worker.threads', 'verify.afterFuse']) {
    assert.ok(problems.some((p) => p.startsWith(`modelfuse.${key}:`)), `a problem names modelfuse.${key}`);
  }
});
