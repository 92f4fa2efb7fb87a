/**
 * One ONNX Runtime worker for the duration of a CLI command: progress on a
 * terminal's stderr (never in pipes, so --json output stays clean), Ctrl-C
 * cancels the running request (a second Ctrl-C stops everything: see
 * signals.ts), time and memory limits (`--timeout`, `--max-memory`), and the
 * worker is always stopped at the end.
 */
import { ModelFuseError } from '../engine/errors';
import { WORKER_THREADS_ENV } from '../protocol/workerProtocol';
import { defaultMemoryLimitBytes, WorkerClient, type RequestOptions } from '../workerClient/client';
import { optValue, type OptionSpec, type ParsedArgs } from './args';
import type { CliIO } from './command';
import { cancelOnFirstInterrupt } from './signals';

/** Default `--timeout` of a verification: long enough for big models on slow machines, short of a CI job's limit. */
export const DEFAULT_TIMEOUT_SECONDS = 600;

/** `--timeout SECONDS` (0: none) and `--max-memory MB` (0: none) for every command that runs ONNX Runtime. */
export const WORKER_LIMIT_OPTIONS: Record<string, OptionSpec> = {
  timeout: { value: true },
  'max-memory': { value: true },
};

export interface WorkerLimits {
  /** 0: no limit. */
  timeoutMs: number;
  /** The worker's resident-memory ceiling; 0: none. */
  memoryLimitBytes: number;
}

export function parseWorkerLimits(a: ParsedArgs): WorkerLimits {
  const seconds = nonNegativeOption(a, 'timeout', 'seconds');
  const megabytes = nonNegativeOption(a, 'max-memory', 'megabytes');
  return {
    timeoutMs: Math.round((seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
    memoryLimitBytes: megabytes === undefined ? defaultMemoryLimitBytes() : Math.round(megabytes * 2 ** 20),
  };
}

function nonNegativeOption(a: ParsedArgs, name: string, unit: string): number | undefined {
  const v = optValue(a, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new ModelFuseError(`--${name} '${v}': expected a non-negative number of ${unit} (0: no limit)`);
  return n;
}

export interface CliWorkerOptions {
  /** Forward the worker's stderr (ONNX Runtime's native messages) to ours. */
  debug?: boolean;
  /** Time and memory limits; the timeout applies to each request made with the `request` options given to `fn`. */
  limits?: WorkerLimits;
  /** What the timed request does, for the timeout message ("verification did not finish within …"). */
  what?: string;
}

export async function withCliWorker<T>(io: CliIO, options: CliWorkerOptions, fn: (client: WorkerClient, request: RequestOptions) => Promise<T>): Promise<T> {
  const client = new WorkerClient({
    threads: threadsFromEnv(),
    memoryLimitBytes: options.limits?.memoryLimitBytes,
    onLog: options.debug ? (line) => io.err(`[worker] ${line}`) : undefined,
  });
  const abort = new AbortController();
  const unhookInterrupt = cancelOnFirstInterrupt(() => abort.abort());
  const tty = process.stderr.isTTY === true;
  let shown = false;
  const timeoutMs = options.limits?.timeoutMs ?? 0;
  const request: RequestOptions = {
    token: abort.signal,
    timeout: timeoutMs > 0 ? { ms: timeoutMs, what: options.what ?? 'the ONNX Runtime work', hint: '--timeout SECONDS raises it' } : undefined,
    onProgress: tty
      ? (p) => {
          shown = true;
          process.stderr.write(`\r\u001b[K${p.message}`);
        }
      : undefined,
  };
  try {
    return await fn(client, request);
  } finally {
    if (shown) process.stderr.write('\r\u001b[K');
    unhookInterrupt();
    await client.dispose();
  }
}

function threadsFromEnv(): number {
  const raw = process.env[WORKER_THREADS_ENV];
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new ModelFuseError(`${WORKER_THREADS_ENV}='${raw}': expected a non-negative integer (0 = ONNX Runtime's default)`);
  return n;
}
