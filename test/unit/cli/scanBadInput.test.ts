/**
 * Bad input through the real CLI bundle (`npm run build` first): every broken
 * or hostile model makes `scan` and `fuse-list` exit non-zero with exactly one
 * line on stderr naming the file and the problem, no stack trace, nothing on
 * stdout, and nothing written.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { fixture, tempDir } from '../helpers/fixtures';
import { encodeModel } from '../helpers/onnxBuilder';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');

function cli(...args: string[]) {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js is missing: run `npm run build` first');
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function listTree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map(String).sort();
}

/** Runs scan (and --json, and fuse-list) on `file` and checks the failure contract; returns the stderr line. */
function expectFailure(file: string, problem: RegExp): string {
  const dir = path.dirname(file);
  const before = listTree(dir);
  let line = '';
  for (const args of [['scan', file], ['scan', file, '--json'], ['fuse-list', file]]) {
    const r = cli(...args);
    assert.notEqual(r.code, 0, `${args.join(' ')} must fail`);
    assert.equal(r.out, '', `${args.join(' ')}: nothing on stdout`);
    const lines = r.err.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.err}`);
    line = lines[0];
    assert.ok(line.includes(file), `the message names the file: ${line}`);
    assert.match(line, problem);
    assert.doesNotMatch(line, /internal error|\bat .*\.js:\d+/, 'a user error, not a crash');
  }
  assert.deepEqual(listTree(dir), before, 'nothing written');
  return line;
}

const dir = tempDir('modelfuse-badinput-');
const write = (name: string, bytes: Uint8Array | string): string => {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
};
const good = fs.readFileSync(fixture('zoo_conv_bn_relu', 'model.onnx'));

test('missing file, empty file, a directory', () => {
  expectFailure(path.join(dir, 'nope.onnx'), /file not found/);
  expectFailure(write('empty.onnx', ''), /file is empty/);
  fs.mkdirSync(path.join(dir, 'adir.onnx'), { recursive: true });
  expectFailure(path.join(dir, 'adir.onnx'), /not a file/);
});

test('truncated model, random bytes, a PNG', () => {
  expectFailure(write('truncated.onnx', good.subarray(0, Math.floor(good.length * 0.6))), /not a valid ONNX model/);
  let s = 7;
  const random = Buffer.from(Array.from({ length: 4096 }, () => (s = (s * 1103515245 + 12345) % 2 ** 31) & 0xff));
  expectFailure(write('random.onnx', random), /not (a valid )?(an )?ONNX model/);
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from('0000000d49484452000000010000000108060000001f15c489', 'hex'),
    Buffer.from('0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f90000000049454e44ae426082', 'hex'),
  ]);
  expectFailure(write('image.onnx', png), /not (a valid )?(an )?ONNX model/);
});

test('absurd protobuf lengths and shapes', () => {
  // field 7 (graph), length-delimited, claiming ~34 GB
  expectFailure(write('biglen.onnx', Buffer.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00])), /not a valid ONNX model/);
  const m = onnx.ModelProto.decode(good);
  m.graph!.initializer![0].dims = [2 ** 40, 2 ** 40];
  expectFailure(write('bigdims.onnx', encodeModel(m)), /absurd shape|out of range/);
});

test('raw_data whose length does not match dims × dtype', () => {
  const m = onnx.ModelProto.decode(good);
  const t = m.graph!.initializer![1];
  t.raw_data = t.raw_data!.subarray(0, t.raw_data!.length - 4);
  const line = expectFailure(write('short_raw.onnx', encodeModel(m)), /holds 28 bytes but float32\[8\] needs 32/);
  assert.ok(line.includes(`'${t.name}'`), line);
  const m2 = onnx.ModelProto.decode(good);
  m2.graph!.initializer![0].data_type = DataType.DOUBLE;
  expectFailure(write('wrong_dtype.onnx', encodeModel(m2)), /needs \d+/);
});

test('names from the file cannot break the one-line message or inject terminal escapes', () => {
  const m = onnx.ModelProto.decode(good);
  const t = m.graph!.initializer![1];
  t.name = 'evil\nname\x1b[31m';
  t.raw_data = t.raw_data!.subarray(0, 4);
  const line = expectFailure(write('evil_name.onnx', encodeModel(m)), /tensor 'evil\\nname\\x1b\[31m' \(initializer\): holds 4 bytes/);
  assert.doesNotMatch(line, /\x1b/);
});

/** The dynamo fixture (external data) copied into its own folder, with `edit` applied to the first external tensor. */
function externalCase(name: string, edit: (t: onnx.ITensorProto, folder: string) => void, withData = true): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  const m = onnx.ModelProto.decode(fs.readFileSync(fixture('zoo_conv_bn_relu_dynamo', 'model.onnx')));
  if (withData) fs.copyFileSync(fixture('zoo_conv_bn_relu_dynamo', 'model.onnx.data'), path.join(folder, 'model.onnx.data'));
  edit(m.graph!.initializer!.find((t) => t.data_location === 1)!, folder);
  const p = path.join(folder, 'model.onnx');
  fs.writeFileSync(p, encodeModel(m));
  return p;
}
const setLocation = (t: onnx.ITensorProto, location: string) => {
  for (const e of t.external_data ?? []) if (e.key === 'location') e.value = location;
};

test('missing or short external data', () => {
  expectFailure(externalCase('no_data', () => {}, false), /external data file 'model.onnx.data' is missing/);
  expectFailure(
    externalCase('short_data', (_t, folder) => fs.truncateSync(path.join(folder, 'model.onnx.data'), 100)),
    /external file 'model.onnx.data' is too short/,
  );
  if (process.platform !== 'win32') {
    // A FIFO in place of the data file must be refused, not block the open forever.
    const fifo = externalCase('fifo', (_t, folder) => {
      assert.equal(spawnSync('mkfifo', [path.join(folder, 'model.onnx.data')]).status, 0);
    }, false);
    expectFailure(fifo, /external data 'model.onnx.data' is not a file/);
  }
});

test('external data that escapes the model folder is refused', () => {
  fs.writeFileSync(path.join(dir, 'secret.bin'), Buffer.alloc(4096));
  expectFailure(externalCase('dotdot', (t) => setLocation(t, '../secret.bin')), /points outside the model's folder/);
  expectFailure(externalCase('absolute', (t) => setLocation(t, '/etc/passwd')), /is absolute/);
  expectFailure(
    externalCase('symlink', (t, folder) => {
      fs.symlinkSync(path.join(dir, 'secret.bin'), path.join(folder, 'link.bin'));
      setLocation(t, 'link.bin');
    }),
    /links outside the model's folder/,
  );
});

test('usage errors are one line too', () => {
  const r = cli('scan');
  assert.equal(r.code, 2);
  assert.match(r.err.trim(), /^modelfuse scan: expected MODEL; usage: scan MODEL \[--weights STATE_DICT\.safetensors\] \[--python MODEL\.py\] \[--json\]$/);
  assert.match(cli('scan', fixture('zoo_linear', 'model.onnx'), '--bogus').err.trim(), /^modelfuse scan: unknown option --bogus$/);
});

test('good models: scan --json is one JSON object with exactly the contract keys; fuse-list prints the call', () => {
  const r = cli('scan', fixture('zoo_resstyle', 'model.onnx'), '--json');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const j = JSON.parse(r.out);
  assert.deepEqual(Object.keys(j), ['model', 'candidates']);
  assert.deepEqual(Object.keys(j.model), ['path', 'opset', 'producer', 'nodes', 'initializers', 'parameters', 'bytes', 'subgraphs']);
  assert.deepEqual(j.model, {
    path: fixture('zoo_resstyle', 'model.onnx'), opset: 17, producer: 'pytorch 2.11.0', nodes: 20, initializers: 31, parameters: 10136,
    bytes: fs.statSync(fixture('zoo_resstyle', 'model.onnx')).size, subgraphs: [],
  });
  for (const c of j.candidates) assert.deepEqual(Object.keys(c).filter((k) => k !== 'details'), ['id', 'pattern', 'nodes', 'modules', 'folds', 'blocked', 'warnings']);
  assert.equal(j.candidates.length, 6);

  const table = cli('scan', fixture('zoo_resstyle', 'model.onnx'));
  assert.equal(table.code, 0);
  assert.match(table.out, /conv-bn-relu\s+blocks\.0\.conv1 \+ blocks\.0\.bn1 \+ relu\s+folds/);
  assert.match(table.out, /warning: shared module 'relu' is called from 5 places/);

  const fl = cli('fuse-list', fixture('zoo_resstyle', 'model.onnx'));
  assert.equal(fl.code, 0);
  assert.match(fl.out, /model = torch\.ao\.quantization\.fuse_modules\(model, \[\n    \['blocks\.0\.conv2', 'blocks\.0\.bn2'\],/);
  assert.match(fl.out, /^#   \['conv1', 'bn1', 'relu'\]: module 'relu' is called from 5 places/m);
});
