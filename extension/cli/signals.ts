/**
 * What the CLI does when it is told to stop (Ctrl-C, a CI timeout's SIGTERM,
 * a closed terminal's SIGHUP): no worker outlives it and no temporary stays.
 *
 * The first Ctrl-C while a worker request runs cancels that request (the
 * command then ends with "cancelled", exit 130). Any other SIGINT, SIGTERM or
 * SIGHUP stops at once: every worker is killed, every temporary this process
 * is writing is removed, and so are the temporaries the killed workers were
 * writing beside the outputs the command announced; the exit code is 128 + the
 * signal number, as a shell reports it. (SIGKILL cannot be caught: the
 * worker's watchdog notices the missing parent, and the next write into the
 * folder removes what was left.)
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { removeLiveTemporaries, removeStaleTemporaries } from '../engine/io/atomicWrite';
import { killAllWorkersNow } from '../workerClient/client';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

let cancelRequest: (() => void) | null = null;
const outputFolders = new Set<string>();
let installed = false;

/** Installs the handlers (once per process). */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  for (const signal of STOP_SIGNALS) process.on(signal, () => onSignal(signal));
}

/** While a worker request runs, the first Ctrl-C calls `cancel` instead of stopping. Returns the unhook. */
export function cancelOnFirstInterrupt(cancel: () => void): () => void {
  cancelRequest = cancel;
  return () => {
    if (cancelRequest === cancel) cancelRequest = null;
  };
}

/** The folder of an output a worker may be writing, whose temporaries a stop must remove. */
export function announceOutput(output: string): void {
  outputFolders.add(path.dirname(path.resolve(output)));
}

function onSignal(signal: StopSignal): void {
  if (signal === 'SIGINT' && cancelRequest) {
    const cancel = cancelRequest;
    cancelRequest = null;
    cancel();
    return;
  }
  const workers = killAllWorkersNow();
  removeLiveTemporaries();
  if (workers.length) for (const dir of outputFolders) removeStaleTemporaries(dir, workers);
  process.stderr.write(`\nmodelfuse: stopped by ${signal}; nothing was written\n`);
  process.exit(128 + os.constants.signals[signal]);
}
