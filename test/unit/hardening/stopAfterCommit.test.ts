/**
 * A stop (SIGTERM, SIGINT, SIGHUP) that arrives after a command moved its output into place but before
 * it ended must not leave that output behind a non-zero exit: a script that tests for the file would
 * take it for a result. (The soak run in .ci/run found this window: run 49, SIGTERM, exit 143, output there.)
 * The child commits for real through the engine's atomic write and the CLI's own signal handler.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';

const SCRIPT = path.join(__dirname, 'scripts', 'stopAfterCommit.ts');
const root = tempDir('modelfuse-stop-after-commit-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

function commitThenStop(out: string, signal: NodeJS.Signals, force: boolean): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, out, ...(force ? ['--force'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    stdout += d;
    if (stdout.includes('committed')) {
      assert.equal(fs.readFileSync(out, 'utf8'), 'complete output', 'the output is in place before the stop');
      child.kill(signal);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('a stop after the commit', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    it(`${signal}: exit ${code}, the new output taken back, nothing else left in the folder`, async () => {
      const dir = fs.mkdtempSync(path.join(root, 'new-'));
      const out = path.join(dir, 'out.onnx');
      const r = await commitThenStop(out, signal, false);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, new RegExp(`stopped by ${signal}; nothing was written`));
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  }

  it('--force over an existing file: the replacement stays (the old file is gone either way) and the message says so', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'force-'));
    const out = path.join(dir, 'out.onnx');
    fs.writeFileSync(out, 'old');
    const r = await commitThenStop(out, 'SIGTERM', true);
    assert.equal(r.code, 143, r.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), 'complete output');
    assert.match(r.stderr, /out\.onnx had already been replaced and is complete/);
    assert.deepEqual(fs.readdirSync(dir), ['out.onnx']);
  });
});
