/**
 * Issue 14, item 1: ONNX Runtime work that never ends or never stops
 * allocating is stopped (--timeout, --max-memory; exit 2, one line), and no
 * worker outlives its CLI — not after a timeout, a Ctrl-C, a SIGTERM (what a
 * CI timeout sends) or even a SIGKILL of the CLI (the worker's watchdog sees
 * its parent gone). Hostile models are built here; the real CLI and the real
 * onnxruntime-node run them.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GraphBuilder } from '../exporters/exporterGraph';
import { tempDir } from '../helpers/fixtures';
import { addEndlessLoop, addHugeRange, convBn, write } from './hostileModels';
import { filesIn, killTagged, processesLeft, runCli, type CliRun } from './cliRun';

const dir = tempDir('modelfuse-limits-');
const endless = write(path.join(dir, 'endless.onnx'), addEndlessLoop(convBn(new GraphBuilder())));
// 0..4e8 in float32: 1.6 GB that ONNX Runtime allocates and fills at run time.
const hungry = write(path.join(dir, 'hungry.onnx'), addHugeRange(convBn(new GraphBuilder()), 4e8));
const runs: CliRun[] = [];

after(() => {
  for (const r of runs) killTagged(r.tag);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], options: Parameters<typeof runCli>[1] = {}): Promise<CliRun> {
  const r = await runCli(args, { cwd: dir, ...options });
  runs.push(r);
  return r;
}

async function assertNoProcessLeft(r: CliRun): Promise<void> {
  assert.deepEqual(await processesLeft(r.tag), [], 'a ModelFuse process of this run is still running');
}

describe('time and memory limits on ONNX Runtime work', () => {
  it('verify of a Loop that never ends stops at --timeout: exit 2, one line, no worker left', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', '2', '--runs', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^modelfuse verify: verification did not finish within 2 s \(--timeout SECONDS raises it\); the ONNX Runtime worker was stopped/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    await assertNoProcessLeft(r);
  });

  it('fuse --verify that times out writes nothing (exit 2: no output, no temporary)', async () => {
    const out = path.join(dir, 'endless.fused.onnx');
    const before = filesIn(dir);
    const r = await cli(['fuse', endless, '-o', out, '--verify', '--timeout', '2', '--runs', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /verification did not finish within 2 s/);
    assert.deepEqual(filesIn(dir), before, 'fuse left files behind');
    await assertNoProcessLeft(r);
  });

  it('a Range that allocates gigabytes is stopped at --max-memory: exit 2, named, no worker left', async () => {
    const r = await cli(['verify', hungry, hungry, '--max-memory', '300', '--runs', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^modelfuse verify: the ONNX Runtime worker passed its memory ceiling of 300 MB and was stopped/);
    await assertNoProcessLeft(r);
  });

  it('bad limit values are usage errors', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout 'soon': expected a non-negative number of seconds/);
  });
});

describe('no worker outlives its CLI', () => {
  it('SIGTERM on the CLI (a CI timeout) while the worker is stuck in ONNX Runtime: exit 143, worker gone', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', '0', '--runs', '0'], { kill: { signal: 'SIGTERM', whenWorkerRuns: true, afterMs: 300 } });
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /stopped by SIGTERM/);
    await assertNoProcessLeft(r);
  });

  it('SIGHUP (terminal closed): exit 129, worker gone', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', '0', '--runs', '0'], { kill: { signal: 'SIGHUP', whenWorkerRuns: true, afterMs: 300 } });
    assert.equal(r.code, 129, r.stderr);
    await assertNoProcessLeft(r);
  });

  it('Ctrl-C cancels; a worker that cannot see the cancel (inside a Loop) is stopped: exit 130, worker gone', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', '0', '--runs', '0'], { kill: { signal: 'SIGINT', whenWorkerRuns: true, afterMs: 300 } });
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /^modelfuse verify: cancelled$/m);
    await assertNoProcessLeft(r);
  });

  it('SIGKILL of the CLI (nothing can run in it): the worker notices its parent is gone and ends', async () => {
    const r = await cli(['verify', endless, endless, '--timeout', '0', '--runs', '0'], { kill: { signal: 'SIGKILL', whenWorkerRuns: true, afterMs: 300 } });
    assert.equal(r.signal, 'SIGKILL');
    await assertNoProcessLeft(r);
  });
});
