/**
 * What the CLI does when it is told to stop (Ctrl-C, a CI timeout's SIGTERM,
 * a closed terminal's SIGHUP): no worker outlives it and no temporary stays.
 *
 * The first Ctrl-C while a worker request runs cancels that request (the
 * command then ends with "cancelled", exit 130). Any other SIGINT, SIGTERM or
 * SIGHUP stops at once: every worker is killed, every temporary this process
 * is writing is removed, and so are the temporaries the killed workers were
 * writing beside the outputs the command announced; the exit code is 128 + the
 * signal number, as a shell reports it. A stop that arrives after an output
 * was moved into place but before the command ended takes that output back
 * (if it was a new name), so a non-zero exit never leaves an output a script
 * could take for a result. (SIGKILL cannot be caught: the
 * worker's watchdog notices the missing parent, and the next write into the
 * folder removes what was left.)
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { onCommit, removeLiveTemporaries, removeStaleTemporaries, type PlacedOutput } from '../engine/io/atomicWrite';
import { killAllWorkersNow } from '../workerClient/client';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

let cancelRequest: (() => void) | null = null;
const outputFolders = new Set<string>();
/** Outputs a worker may move into place, each with whether the name existed when it was announced (to tell which appeared). */
const announcedOutputs = new Map<string, boolean>();
/** Names this process's commits placed. */
const placedHere: PlacedOutput[] = [];
let installed = false;

/** Installs the handlers (once per process). */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  onCommit((placed) => placedHere.push(...placed));
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
  const resolved = path.resolve(output);
  outputFolders.add(path.dirname(resolved));
  if (!announcedOutputs.has(resolved)) announcedOutputs.set(resolved, fs.existsSync(resolved));
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
  const { kept, unsure } = takeBackOutputs();
  const notes = [
    ...kept.map((f) => `${f} had already been replaced and is complete`),
    ...unsure.map((f) => `${f} appeared during the run (this run's worker may have finished it just before the stop, or another run wrote it); check it before use`),
  ];
  process.stderr.write(`\nmodelfuse: stopped by ${signal}; ${notes.length ? notes.join('; ') : 'nothing was written'}\n`);
  process.exit(128 + os.constants.signals[signal]);
}

/**
 * Removes the names this process's own commits created (commits are synchronous, so a signal handler
 * sees each one whole). Names they replaced stay: what was there before is gone either way, and the
 * new file is complete. An announced output a killed worker may have placed is not removed: a name
 * that appeared may as well be another run's, and removing someone else's result is worse.
 */
function takeBackOutputs(): { kept: string[]; unsure: string[] } {
  const kept: string[] = [];
  const mine = new Set<string>();
  for (const placed of placedHere) {
    mine.add(placed.path);
    if (placed.created) fs.rmSync(placed.path, { force: true });
    else kept.push(placed.path);
  }
  const unsure = [...announcedOutputs].filter(([output, existed]) => !existed && !mine.has(output) && fs.existsSync(output)).map(([output]) => output);
  return { kept, unsure };
}
