/**
 * Entry of the ONNX Runtime worker (bundled to dist/worker.js), run as a
 * child process by WorkerClient so that a native crash in ONNX Runtime kills
 * only this process. It answers requests over the IPC channel with the
 * handlers in the registry, concurrently, and exits when the parent goes away.
 */
import {
  errorToPayload,
  isHostToWorker,
  WORKER_MEMORY_LIMIT_ENV,
  WORKER_PARENT_PID_ENV,
  WORKER_PROTOCOL_VERSION,
  WORKER_THREADS_ENV,
  WorkerRequestError,
  type RequestMessage,
  type WorkerToHost,
} from '../protocol/workerProtocol';
import { getHandler, registeredMethods, RequestCancellation } from './registry';
import { setIntraOpThreads } from './ort/runtime';
import { startWatchdog } from './watchdog';
import { removeLiveTemporaries } from '../engine/io/atomicWrite';
import './handlers/index';

function send(msg: WorkerToHost): void {
  // The channel may be gone if the parent died; there is nobody left to tell.
  if (process.connected) process.send!(msg);
}

const running = new Map<number, RequestCancellation>();
const PROGRESS_INTERVAL_MS = 100;

async function handle(req: RequestMessage): Promise<void> {
  const cancellation = new RequestCancellation();
  running.set(req.id, cancellation);
  let lastProgress = 0;
  try {
    const handler = getHandler(req.method);
    if (!handler) {
      throw new WorkerRequestError(`the worker has no '${req.method}' method (it has: ${registeredMethods().join(', ')})`, 'unknown-method');
    }
    const result = await handler(req.params, {
      id: req.id,
      token: cancellation,
      throwIfCancelled: () => cancellation.throwIfCancelled(),
      progress: (message, done, total) => {
        if (cancellation.cancelled) return;
        // A million fast runs must not flood the channel: counted steps after the first go out at most every PROGRESS_INTERVAL_MS.
        const now = Date.now();
        if (done !== undefined && done > 0 && done !== total && now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        send({ type: 'progress', id: req.id, message, ...(done !== undefined ? { done } : {}), ...(total !== undefined ? { total } : {}) });
      },
    });
    send({ type: 'response', id: req.id, result });
  } catch (err) {
    const error = errorToPayload(err);
    if (error.code === 'internal' && err instanceof Error) process.stderr.write(`modelfuse worker: ${req.method} failed: ${err.stack}\n`);
    send({ type: 'response', id: req.id, error });
  } finally {
    running.delete(req.id);
  }
}

function main(): void {
  if (!process.send) {
    process.stderr.write('modelfuse worker: must be started by WorkerClient (child_process.fork with an IPC channel)\n');
    process.exit(2);
  }
  const threads = Number(process.env[WORKER_THREADS_ENV] ?? '0');
  setIntraOpThreads(Number.isSafeInteger(threads) && threads >= 0 ? threads : 0);
  // The host that forked us; if it is already gone (re-parented before we got here), stop at once.
  const parentPid = Number(process.env[WORKER_PARENT_PID_ENV] ?? process.ppid);
  if (process.ppid !== parentPid) process.exit(0);
  const memoryLimit = Number(process.env[WORKER_MEMORY_LIMIT_ENV] ?? '0');
  startWatchdog(parentPid, Number.isFinite(memoryLimit) && memoryLimit > 0 ? memoryLimit : 0);
  // Ctrl-C in a terminal reaches the whole process group: the host decides (it sends `cancel`, and stops us
  // if we do not answer). Every other signal keeps its default action, which works even inside native code.
  process.on('SIGINT', () => undefined);

  process.on('message', (msg: unknown) => {
    if (!isHostToWorker(msg)) {
      process.stderr.write(`modelfuse worker: ignoring malformed message ${JSON.stringify(msg)?.slice(0, 200)}\n`);
      return;
    }
    if (msg.type === 'cancel') {
      running.get(msg.id)?.cancel();
      return;
    }
    void handle(msg);
  });
  // The parent exited or disposed the client: nothing left to serve, and no half-written output to keep.
  process.on('disconnect', () => {
    removeLiveTemporaries();
    process.exit(0);
  });
  send({ type: 'ready', protocol: WORKER_PROTOCOL_VERSION, pid: process.pid, methods: registeredMethods() });
}

main();
