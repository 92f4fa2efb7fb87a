/**
 * One ONNX Runtime worker for the duration of a CLI command: progress on a
 * terminal's stderr (never in pipes, so --json output stays clean), Ctrl-C
 * cancels the running request (a second Ctrl-C kills as usual), and the
 * worker is always stopped at the end.
 */
import { ModelFuseError } from '../engine/errors';
import { WORKER_THREADS_ENV } from '../protocol/workerProtocol';
import { WorkerClient, type RequestOptions } from '../worker/client';
import type { CliIO } from './command';

export interface CliWorkerOptions {
  /** Forward the worker's stderr (ONNX Runtime's native messages) to ours. */
  debug?: boolean;
}

export async function withCliWorker<T>(io: CliIO, options: CliWorkerOptions, fn: (client: WorkerClient, request: RequestOptions) => Promise<T>): Promise<T> {
  const client = new WorkerClient({ threads: threadsFromEnv(), onLog: options.debug ? (line) => io.err(`[worker] ${line}`) : undefined });
  const abort = new AbortController();
  const onSigint = () => {
    process.removeListener('SIGINT', onSigint);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  let shown = false;
  const request: RequestOptions = {
    token: abort.signal,
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
    process.removeListener('SIGINT', onSigint);
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
