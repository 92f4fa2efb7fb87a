/** `node dist/cli.js optimize MODEL -o OUT --ort-level basic|extended`, through the bundled CLI and the worker. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { OptimizeResult } from '../../../extension/protocol/workerProtocol';
import { fixture, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';

const MODEL = fixture('zoo_resstyle', 'model.onnx');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, ...args], { encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('extended: says plainly that the output needs ONNX Runtime, and the output computes the same function', () => {
  const dir = tempDir();
  const out = path.join(dir, 'ext.onnx');
  const r = cli('optimize', MODEL, '-o', out, '--ort-level', 'extended');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*ext\.onnx: ONNX Runtime offline optimization at level extended, \d+ nodes → \d+/);
  assert.match(r.stdout, /com\.microsoft::FusedConv ×\d+\): it runs only on ONNX Runtime/);
  assert.deepEqual(fs.readdirSync(dir), ['ext.onnx']);
  const v = cli('verify', MODEL, out, '--runs', '0', '--inputs', fixture('zoo_resstyle', 'io.safetensors'));
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('basic: standard ONNX, --json result', () => {
  const dir = tempDir();
  const out = path.join(dir, 'basic.onnx');
  const r = cli('optimize', MODEL, '-o', out, '--ort-level', 'basic', '--json');
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as OptimizeResult;
  assert.equal(result.output, out);
  assert.equal(result.level, 'basic');
  assert.equal(result.externalData, null);
  assert.deepEqual(result.nonStandardOps, {});
  assert.ok(result.nodesAfter <= result.nodesBefore);
  assert.ok(fs.statSync(out).size > 0);
});

test('bad input: exit 2, one line, nothing written', () => {
  const dir = tempDir();
  const existing = path.join(dir, 'exists.onnx');
  fs.writeFileSync(existing, 'keep me');
  const corrupt = path.join(dir, 'corrupt.onnx');
  fs.writeFileSync(corrupt, 'not a model');
  const cases: [string[], RegExp][] = [
    [[MODEL, '-o', path.join(dir, 'o.onnx')], /missing --ort-level basic\|extended/],
    [[MODEL, '-o', path.join(dir, 'o.onnx'), '--ort-level', 'all'], /--ort-level 'all': expected basic or extended/],
    [[MODEL, '--ort-level', 'basic'], /missing -o OUT/],
    [[MODEL, '-o', existing, '--ort-level', 'basic'], /exists\.onnx: file exists \(use --force to replace it\)/],
    [[corrupt, '-o', path.join(dir, 'o.onnx'), '--ort-level', 'basic'], /corrupt\.onnx: not a valid ONNX model/],
    [[path.join(dir, 'missing.onnx'), '-o', path.join(dir, 'o.onnx'), '--ort-level', 'basic'], /missing\.onnx: file not found/],
  ];
  for (const [args, expected] of cases) {
    const r = cli('optimize', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, expected);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['corrupt.onnx', 'exists.onnx']);
  assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me');
});
