/**
 * `node dist/cli.js fuse …` as users call it: the bundled CLI (built fresh
 * for the test), scan + folds + save, `--verify` through the real ONNX
 * Runtime worker, the exact --json shape, one-line errors, exit codes, and
 * nothing written over or beside the input.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fixture, FUSION_CASES, readCase, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { runOrt } from './helpers/build';
import { relativeToMax } from './helpers/numbers';

const dir = tempDir('modelfuse-fusecli-');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, 'fuse', ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function copyFixture(name: string): string {
  const sub = fs.mkdtempSync(path.join(dir, `${name}-`));
  for (const f of readCase<{ files: string[] }>(name).files) fs.copyFileSync(fixture(name, f), path.join(sub, f));
  return path.join(sub, 'model.onnx');
}

test('fuse --json --verify on every fusion fixture: exact JSON keys, every unblocked fold applied, verification passed, input untouched', async () => {
  for (const name of FUSION_CASES) {
    const input = copyFixture(name);
    const before = fs.readdirSync(path.dirname(input)).map((f) => [f, sha(path.join(path.dirname(input), f))]);
    const out = path.join(path.dirname(input), 'fused.onnx');
    const r = cli(input, '-o', out, '--json', '--verify', '--runs', name === 'zoo_resstyle' ? '3' : '0');
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(json), ['output', 'applied', 'skipped', 'verification']);
    assert.equal(json.output, out);
    for (const a of json.applied) assert.deepEqual(Object.keys(a), ['id', 'pattern', 'nodes', 'modules']);
    for (const s of json.skipped) assert.deepEqual(Object.keys(s), ['id', 'reason']);
    assert.equal(json.verification.passed, true, `${name}: ${JSON.stringify(json.verification.outputs)}`);
    assert.equal(json.verification.latency_ms === null, name !== 'zoo_resstyle');

    const model = OnnxModel.load(input);
    const expected = scanModel(model).candidates.filter((c) => c.folds && !c.blocked).map((c) => c.id);
    model.close();
    assert.deepEqual(json.applied.map((a: { id: string }) => a.id), expected, `${name}: applied = scan's unblocked folds`);

    const io = SafetensorsFile.open(fixture(name, 'io.safetensors'));
    const y = await runOrt(out, { x: { dims: io.get('input.x').shape, values: io.readFloat64('input.x') } });
    assert.ok(relativeToMax(y.y, io.readFloat64('output.y')) <= 1e-4, `${name}: output.y reproduced`);
    io.close();
    for (const [f, h] of before) assert.equal(sha(path.join(path.dirname(input), f)), h, `${name}: ${f} unchanged`);
  }
});

test('human-readable report and filtering with --patterns / --only', () => {
  const input = copyFixture('zoo_resstyle');
  const r = cli(input, '-o', 'r1.onnx', '--patterns', 'conv-bn');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /applied \(2\):/);
  assert.match(r.stdout, /conv-bn:\/conv2\/Conv {2}\[blocks\.0\.conv2 \+ blocks\.0\.bn2\]/);
  assert.match(r.stdout, /weight blocks\.0\.conv2\.weight float32\[16, 16, 3, 3\] updated/);
  assert.match(r.stdout, /nodes 20 → 18/);

  const only = JSON.parse(cli(input, '-o', 'r2.onnx', '--only', 'conv-bn:/conv2/Conv,conv-bn-relu:/conv1/Conv', '--json').stdout);
  assert.deepEqual(only.applied.map((a: { id: string }) => a.id), ['conv-bn-relu:/conv1/Conv', 'conv-bn:/conv2/Conv']);
  assert.equal(only.verification, null);
});

test('grouping-only candidates asked for by pattern are reported as skipped, with the reason', () => {
  const input = copyFixture('zoo_linear');
  const r = cli(input, '-o', 'g.onnx', '--patterns', 'linear-relu,linear-bn', '--json');
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.applied.map((a: { id: string }) => a.id), ['linear-bn:/fc1/Gemm', 'linear-bn:/fc3/MatMul']);
  assert.deepEqual(json.skipped.map((s: { id: string }) => s.id), ['linear-relu:/fc2/Gemm']);
  assert.match(json.skipped[0].reason, /nothing to fold/);
});

test('bad input: one clear line on stderr, exit 2, nothing written', () => {
  const input = copyFixture('zoo_conv_bn_relu');
  const folder = path.dirname(input);
  const listing = (): string[] => fs.readdirSync(folder).sort();
  const files = listing();
  const cases: [string[], RegExp][] = [
    [[input], /no output given; fuse never writes over its input, so name a new file with -o OUT/],
    [[input, '-o', input, '--force'], /is the input model; fuse never writes over its input/],
    [[input, '-o', path.join(folder, 'x.onnx'), '--patterns', 'conv-bnn'], /unknown pattern 'conv-bnn'/],
    [[input, '-o', path.join(folder, 'x.onnx'), '--only', 'conv-bn:/nope'], /no candidate with id 'conv-bn:\/nope'/],
    [[input, '-o', path.join(folder, 'x.onnx'), '--rtol', '1'], /--rtol describes the verification; add --verify/],
    [[path.join(folder, 'missing.onnx'), '-o', path.join(folder, 'x.onnx')], /missing\.onnx: file not found/],
    [[input, '-o', path.join(folder, 'x.onnx'), '--verify', '--atol', 'abc'], /--atol 'abc'/],
    [[input, '-o', path.join(folder, 'no', 'x.onnx')], /output folder .* does not exist/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.deepEqual(listing(), files, `${args.join(' ')}: nothing written`);
  }
});

test('an existing output is kept unless --force', () => {
  const input = copyFixture('zoo_grouped');
  const out = path.join(path.dirname(input), 'exists.onnx');
  fs.writeFileSync(out, 'keep me');
  const refused = cli(input, '-o', out);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /file exists \(use --force to replace it\)/);
  assert.equal(fs.readFileSync(out, 'utf8'), 'keep me');
  const forced = cli(input, '-o', out, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(OnnxModel.load(out).graph.node!.filter((n) => n.op_type === 'BatchNormalization').length, 0);
});
