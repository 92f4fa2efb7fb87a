/**
 * Issue 14, items 6–7 and the output-path attacks: temporaries of killed runs
 * are cleared by the next write, two runs racing for one `-o` cannot both
 * "succeed", and an output that is a dangling link, a FIFO, a device or a
 * folder is refused — never silently replaced by a regular file. Problems of
 * the machine (permission, a path through a file) are exit 2 with the path.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphBuilder } from '../exporters/exporterGraph';
import { tempDir } from '../helpers/fixtures';
import { STALE_TEMPORARY_MS } from '../../../extension/engine/io/atomicWrite';
import { convBn, write } from './hostileModels';
import { filesIn, runCli, type CliRun } from './cliRun';

const root = tempDir('modelfuse-outputs-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
function folder(): { dir: string; model: string } {
  const dir = path.join(root, `case-${++n}`);
  fs.mkdirSync(dir);
  return { dir, model: write(path.join(dir, 'model.onnx'), convBn(new GraphBuilder())) };
}

function assertExit2(r: CliRun, message: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /internal error/);
}

/** A pid no process has: past the kernel's pid_max. */
const DEAD_PID = 4_194_305;

describe('temporaries', () => {
  it("the next write removes temporaries of dead writers and old ones, and keeps a live writer's", async () => {
    const { dir, model } = folder();
    const dead = path.join(dir, `.x.onnx.tmp-${DEAD_PID}-0badf00d`);
    const old = path.join(dir, `.y.onnx.tmp-${process.pid}-00c0ffee`);
    const live = path.join(dir, `.z.onnx.tmp-${process.pid}-0000beef`);
    const notOurs = path.join(dir, '.cache.tmp-1-notours');
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, 'x.onnx.data'), Buffer.alloc(1024));
    fs.writeFileSync(old, 'x');
    const hoursAgo = (Date.now() - STALE_TEMPORARY_MS - 60_000) / 1000;
    fs.utimesSync(old, hoursAgo, hoursAgo);
    fs.writeFileSync(live, 'x');
    fs.writeFileSync(notOurs, 'x');
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(filesIn(dir), [path.basename(notOurs), path.basename(live), 'model.onnx', 'out.onnx'].sort());
  });
});

describe('two runs racing for one output', () => {
  it('exactly one wins; the other says the file exists; no temporary is left (5 races)', async () => {
    for (let race = 0; race < 5; race++) {
      const { dir, model } = folder();
      const out = path.join(dir, 'out.onnx');
      const results = await Promise.all([runCli(['fuse', model, '-o', out]), runCli(['fuse', model, '-o', out])]);
      const codes = results.map((r) => r.code).sort();
      assert.deepEqual(codes, [0, 2], results.map((r) => r.stderr).join('\n'));
      const loser = results.find((r) => r.code === 2)!;
      assert.match(loser.stderr, /out\.onnx: file exists/);
      assert.deepEqual(filesIn(dir), ['model.onnx', 'out.onnx']);
    }
  });
});

describe('outputs that are not plain new files', () => {
  it('a dangling symbolic link is refused without --force (and the link is left as it was)', async () => {
    const { dir, model } = folder();
    const out = path.join(dir, 'out.onnx');
    fs.symlinkSync(path.join(dir, 'nowhere.onnx'), out);
    assertExit2(await runCli(['fuse', model, '-o', out]), /out\.onnx: exists \(a symbolic link\) \(use --force to replace it\)/);
    assert.equal(fs.readlinkSync(out), path.join(dir, 'nowhere.onnx'));
    assert.equal(fs.existsSync(path.join(dir, 'nowhere.onnx')), false);
  });

  it('a FIFO is refused even with --force and stays a FIFO', async () => {
    const { dir, model } = folder();
    const out = path.join(dir, 'out.onnx');
    execFileSync('mkfifo', [out]);
    assertExit2(await runCli(['fuse', model, '-o', out, '--force']), /out\.onnx: exists and is a FIFO, not a regular file; ModelFuse never replaces it/);
    assert.ok(fs.lstatSync(out).isFIFO());
  });

  it('a device is refused even with --force', async () => {
    const { model } = folder();
    assertExit2(await runCli(['fuse', model, '-o', '/dev/null', '--force']), /\/dev\/null: exists and is a device/);
  });

  it('a folder with --force, and `-o newdir/`, are refused', async () => {
    const { dir, model } = folder();
    fs.mkdirSync(path.join(dir, 'sub'));
    assertExit2(await runCli(['fuse', model, '-o', path.join(dir, 'sub'), '--force']), /sub: exists and is a folder/);
    assertExit2(await runCli(['fuse', model, '-o', `${path.join(dir, 'newdir')}/`]), /newdir\/: names a folder; give the output file name/);
    assert.deepEqual(filesIn(dir), ['model.onnx', 'sub']);
  });

  it('a path through a file, and a folder the system will not let us write, are exit 2 with the path', async () => {
    const { dir, model } = folder();
    assertExit2(await runCli(['fuse', model, '-o', path.join(model, 'out.onnx')]), /model\.onnx\/out\.onnx: .*model\.onnx is not a folder/);
    // sysfs refuses new files even to root: the real EACCES of a folder we cannot write.
    if (fs.existsSync('/sys/kernel')) assertExit2(await runCli(['fuse', model, '-o', '/sys/kernel/out.onnx']), /\/sys\/kernel\/\.out\.onnx\.tmp-\d+-[0-9a-f]{8}: (permission denied|operation not permitted) \((EACCES|EPERM) in mkdir\)/);
    assert.deepEqual(filesIn(dir), ['model.onnx']);
  });

  it('a full disk: exit 2 naming the temporary and ENOSPC, and nothing left on that disk', async (t) => {
    const { dir } = folder();
    // 148 KB of conv weight, written into a 64 KiB tmpfs: a real ENOSPC from the kernel, not a mock.
    const g = new GraphBuilder();
    g.input('x', [1, 64, 4, 4]).output('y', [1, 64, 4, 4]);
    g.constant('conv.weight', [64, 64, 3, 3]);
    g.node('Conv', 'conv', ['x', 'conv.weight'], ['c'], { pads: [1, 1, 1, 1] });
    g.node('BatchNormalization', 'bn', ['c', ...g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 64)], ['y']);
    const model = write(path.join(dir, 'big.onnx'), g);
    const full = path.join(dir, 'full');
    fs.mkdirSync(full);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full], { stdio: 'ignore' });
    } catch {
      t.skip('mounting a small tmpfs needs root (CI runs as root)');
      return;
    }
    try {
      const r = await runCli(['fuse', model, '-o', path.join(full, 'out.onnx')]);
      assertExit2(r, /full\/\.out\.onnx\.tmp-\d+-[0-9a-f]{8}.*: no space left on the device \(ENOSPC in write\)/);
      assert.deepEqual(fs.readdirSync(full), [], 'a half-written temporary was left on the full disk');
    } finally {
      execFileSync('umount', [full]);
    }
  });
});
