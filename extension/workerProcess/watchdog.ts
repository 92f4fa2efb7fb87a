/**
 * The worker's watchdog: a worker thread that keeps running while the main
 * thread is stuck inside ONNX Runtime (a Loop that never ends, a Range that
 * allocates gigabytes), where no JavaScript event of the main thread — a
 * closed IPC channel, a `cancel`, a signal handler — can run.
 *
 * Every POLL_MS it checks two things and ends the whole process when one fails:
 * - the parent is gone (our parent pid changed: the CLI or extension host was
 *   SIGKILLed and we were re-parented) → SIGKILL, nobody is left to answer;
 * - the resident set is above the memory ceiling (Node's resourceLimits cover
 *   only the JS heap, ORT allocates natively) → a line on stderr and
 *   WORKER_MEMORY_LIMIT_SIGNAL, which the client reports as the ceiling, not a crash.
 */
import { Worker } from 'node:worker_threads';
import { WORKER_MEMORY_LIMIT_SIGNAL } from '../protocol/workerProtocol';

const POLL_MS = 100;

// Plain JavaScript evaluated in the thread (no second bundle to ship).
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { parentPid, memoryLimitBytes, pollMs, memorySignal } = workerData;
setInterval(() => {
  if (process.ppid !== parentPid) process.kill(process.pid, 'SIGKILL');
  if (memoryLimitBytes > 0) {
    const rss = process.memoryUsage.rss();
    if (rss > memoryLimitBytes) {
      try { fs.writeSync(2, 'modelfuse worker: memory ceiling passed (resident ' + Math.round(rss / 1048576) + ' MB > ' + Math.round(memoryLimitBytes / 1048576) + ' MB); stopping\\n'); } catch {}
      process.kill(process.pid, memorySignal);
    }
  }
}, pollMs);
`;

export function startWatchdog(parentPid: number, memoryLimitBytes: number): void {
  const watchdog = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { parentPid, memoryLimitBytes, pollMs: POLL_MS, memorySignal: WORKER_MEMORY_LIMIT_SIGNAL },
    // The thread itself needs almost nothing; keep its heap small.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
  });
  watchdog.unref(); // it must never keep an idle worker alive
  watchdog.on('error', (err) => process.stderr.write(`modelfuse worker: watchdog failed: ${err.message}\n`));
}
