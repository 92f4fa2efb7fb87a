// Child processes of the e2e run. Each server runs in its own process group so that stopping it
// also stops everything it started (the VS Code server, its extension host, file watchers, the
// ModelFuse worker). Every group started here is killed at exit, however the run ends.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const liveGroups = new Set();

/** Starts `command` in a new process group; stdout and stderr go to `logFile`. */
export function startGroup(command, args, { cwd, env, logFile }) {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep the recent output in memory too, to wait for a line (e.g. the listening address).
  child.output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      log.write(chunk);
      child.output = (child.output + chunk.toString()).slice(-65_536);
    });
  }
  liveGroups.add(child.pid);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('close', () => log.end()); // after the last output chunk, unlike 'exit'
  return child;
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // the group is already gone
  }
}

/** Stops a group: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopGroup(child, graceMs = 5_000) {
  if (!child || !liveGroups.has(child.pid)) return;
  signalGroup(child.pid, 'SIGTERM');
  const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
  await Promise.race([child.exited, timer]);
  // The leader may have exited while members of its group (extension host, watchers) live on.
  signalGroup(child.pid, 'SIGKILL');
  liveGroups.delete(child.pid);
}

/** Last resort, synchronous: used from process 'exit' and the watchdog. */
export function killAllGroupsNow() {
  for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
  liveGroups.clear();
}

process.on('exit', killAllGroupsNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`e2e: received ${signal}, stopping servers`);
    killAllGroupsNow();
    process.exit(130);
  });
}

/**
 * Ends the whole run if it has not finished by `limitMs` (a hung browser or server must not
 * hold CI until its own limit). Returns a function that disarms it.
 */
export function armWatchdog(limitMs, onFire) {
  const timer = setTimeout(() => {
    console.error(`e2e: watchdog fired after ${Math.round(limitMs / 1000)} s; killing the browser and servers`);
    try {
      onFire?.();
    } finally {
      killAllGroupsNow();
      process.exit(1);
    }
  }, limitMs);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Runs a command to completion with inherited output; throws when it fails. */
export function runOrThrow(command, args, options = {}) {
  const started = Date.now();
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
  }
  return Date.now() - started;
}
