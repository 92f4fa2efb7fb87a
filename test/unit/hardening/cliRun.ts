/**
 * Runs the built CLI (dist/cli.js) as a user or a CI job would, and looks at
 * what it leaves: the exit code, stderr, files in the output folder and
 * processes still running. Every run is tagged with an environment variable
 * the worker inherits, so "processes left" means exactly this run's (other
 * test files and other checkouts run workers at the same time).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const TAG_ENV = 'MODELFUSE_TEST_RUN_TAG';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  tag: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Send `signal` to the CLI once `when` says so (called with the stderr so far), or after `afterMs`. */
  kill?: { signal: NodeJS.Signals; afterMs?: number; whenWorkerRuns?: boolean };
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliRun> {
  const tag = randomBytes(6).toString('hex');
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, [TAG_ENV]: tag },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let timer: NodeJS.Timeout | undefined;
  if (options.kill) {
    const { signal, afterMs = 0, whenWorkerRuns } = options.kill;
    const fire = () => child.exitCode === null && child.kill(signal);
    if (whenWorkerRuns) {
      // Wait until this run's worker exists (then it is busy in ONNX Runtime), then a little longer.
      const poll = () => {
        if (child.exitCode !== null) return;
        if (taggedProcesses(tag).some((p) => p.pid !== child.pid)) timer = setTimeout(fire, afterMs);
        else timer = setTimeout(poll, 50);
      };
      poll();
    } else timer = setTimeout(fire, afterMs);
  }
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, tag });
    });
  });
}

/** Processes (pid, command line) whose environment carries `tag`. Linux /proc; empty elsewhere. */
export function taggedProcesses(tag: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return found;
  }
  const needle = `${TAG_ENV}=${tag}`;
  for (const e of entries) {
    try {
      const env = fs.readFileSync(`/proc/${e}/environ`, 'latin1');
      if (!env.split('\0').includes(needle)) continue;
      // A zombie waiting for its parent holds no resources: it is not "left running".
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'latin1');
      if (/\) Z /.test(stat)) continue;
      found.push({ pid: Number(e), cmd: fs.readFileSync(`/proc/${e}/cmdline`, 'latin1').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * Processes of this run still alive once things had the chance to settle: the
 * worker's watchdog polls every 100 ms, so we look again for a while before
 * calling anything "left running" (a condition with a generous limit, not a
 * timing assertion).
 */
export async function processesLeft(tag: string, settleMs = 5000): Promise<{ pid: number; cmd: string }[]> {
  const until = Date.now() + settleMs;
  for (;;) {
    const left = taggedProcesses(tag);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Kills what a failed test left, by pid, so one failure does not leak into the machine. */
export function killTagged(tag: string): void {
  for (const p of taggedProcesses(tag)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The folder's entries, hidden temporaries included, sorted. */
export function filesIn(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
