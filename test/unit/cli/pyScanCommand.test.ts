/**
 * `py-scan` through the real CLI bundle (`npm run build` first): the Python analysis without VS
 * Code, as a pipeline or a pre-commit hook runs it; bad input ends in one line naming the file.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const FIXTURES = path.join(ROOT, 'test/unit/python/fixtures');

function cli(...args: string[]) {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js is missing: run `npm run build` first');
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface ScanJson {
  file: string;
  hasSyntaxErrors: boolean;
  classes: {
    name: string;
    line: number;
    groups: { pattern: string; modules: string[]; lines: { start: number; end: number }; onlyWhen?: unknown }[];
    traps: { modules: string[]; reason: string }[];
    notUnderstood: { line: number; text: string }[];
    fuseModel: string | null;
  }[];
}

test('py-scan --json: groups, traps, what was not understood and the fuse_model() per class (1-based lines)', () => {
  const file = path.join(FIXTURES, 'helpers.py');
  const r = cli('py-scan', file, '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as ScanJson;
  assert.equal(j.file, file);
  assert.deepEqual(j.classes.map((c) => c.name), ['ResidualBlock', 'Depthwise']);
  const block = j.classes[0];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines[block.line - 1], 'class ResidualBlock(nn.Module):');
  assert.deepEqual(block.groups.map((g) => g.modules), [['conv1', 'bn1'], ['conv2', 'bn2'], ['proj', 'proj_bn']]);
  assert.match(lines[block.groups[0].lines.start - 1], /self\.conv1\(x\)/);
  assert.deepEqual(block.traps.map((t) => t.modules), [['conv1', 'bn1', 'relu']]);
  assert.match(block.fuseModel ?? '', /\["conv1", "bn1"\],\n\s+\["conv2", "bn2"\],\n\s+\["proj", "proj_bn"\],/);
  assert.doesNotMatch(block.fuseModel ?? '', /"relu"/);
});

test('py-scan follows imports beside the file; the text report names each class and says why a class gets nothing', () => {
  const model = cli('py-scan', path.join(FIXTURES, 'pkg/model.py'));
  assert.equal(model.code, 0, model.err);
  assert.match(model.out, /^class Net \(line 7\): 3 groups$/m);
  assert.match(model.out, /conv-bn-relu\s+body\.conv \+ body\.bn \+ body\.relu/);
  const nothing = cli('py-scan', path.join(FIXTURES, 'nothing.py'));
  assert.equal(nothing.code, 0, nothing.err);
  assert.match(nothing.out, /^class Factory \(line 16\): 0 groups\n {2}note \(line 19\): self\.block: `make_block\(…\)` is neither/m);
  assert.match(nothing.out, /^class Plain \(line 36\): 0 groups$/m);
});

test('py-scan bad input: one line on stderr naming the file, exit 2, nothing on stdout, the file untouched', () => {
  const dir = tempDir('pyscan-bad-');
  const binary = path.join(dir, 'weights.py');
  fs.writeFileSync(binary, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x01]));
  const before = fs.readFileSync(binary);
  const cases: [string, RegExp][] = [
    [path.join(dir, 'missing.py'), /cannot read .*missing\.py: no such file/],
    [dir, /is a folder, not a Python file/],
    [binary, /weights\.py is not a Python source file \(it contains NUL bytes\)/],
  ];
  for (const [file, problem] of cases) {
    for (const args of [['py-scan', file], ['py-scan', file, '--json']]) {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
      const errLines = r.err.split('\n').filter((l) => l !== '');
      assert.equal(errLines.length, 1, r.err);
      assert.ok(errLines[0].startsWith('modelfuse py-scan: ') && errLines[0].includes(file), errLines[0]);
      assert.match(errLines[0], problem);
    }
  }
  assert.deepEqual(fs.readFileSync(binary), before);
  assert.deepEqual(fs.readdirSync(dir), ['weights.py']);
});

test('py-scan on a file with syntax errors still reports what it could read, and says so', () => {
  const dir = tempDir('pyscan-syntax-');
  const file = path.join(dir, 'half.py');
  fs.writeFileSync(file, 'import torch.nn as nn\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(1, 1, 1)\n        self.b = nn.BatchNorm2d(1)\n    def forward(self, x):\n        return self.b(self.c(x))\n\ndef broken(:\n');
  const r = cli('py-scan', file, '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as ScanJson;
  assert.equal(j.hasSyntaxErrors, true);
  assert.deepEqual(j.classes[0].groups.map((g) => g.modules), [['c', 'b']]);
  assert.match(cli('py-scan', file).out, /^warning: the file has syntax errors; code near them may be missed$/m);
});
