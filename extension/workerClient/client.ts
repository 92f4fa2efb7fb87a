/**
 * The host side of the ONNX Runtime worker: used by the CLI and the VS Code
 * extension host alike. The worker is a CHILD PROCESS (dist/worker.js, forked
 * with an IPC channel), started on the first request and reused; a native
 * crash inside ONNX Runtime kills only it. When it dies, every request in
 * flight is rejected with WorkerCrashedError ("the ONNX Runtime worker
 * crashed (…); it will be restarted") and the next request starts a new one.
 *
 *   const client = new WorkerClient({ threads: 4 });
 *   const report = await client.request('verify/run', { modelA, modelB }, { onProgress: (p) => log(p.message), token });
 *   await client.dispose();
 *
 * While no request is in flight the child and its pipes are unref'd, so a CLI
 * that forgets `dispose()` still exits (the worker then sees the channel close
 * and exits too).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CancelledError, ModelFuseError } from '../engine/errors';
import {
  isWorkerToHost,
  payloadToError,
  WORKER_MEMORY_LIMIT_ENV,
  WORKER_MEMORY_LIMIT_SIGNAL,
  WORKER_PARENT_PID_ENV,
  WORKER_PROTOCOL_VERSION,
  WORKER_THREADS_ENV,
  WorkerCrashedError,
  WorkerRequestError,
  type HostToWorker,
  type ReadyMessage,
} from '../protocol/workerProtocol';
import type { ParamsOf, ResultOf, WorkerMethod } from '../protocol/workerMethods';

export interface WorkerClientOptions {
  /** The worker bundle; default: worker.js beside this bundle (dist/), or dist/worker.js when running from sources. */
  workerPath?: string;
  /** ONNX Runtime intra-op threads per session; 0 or undefined = ORT's default (one per physical core). */
  threads?: number;
  /** Extra environment for the worker (added to process.env). */
  env?: Record<string, string | undefined>;
  /** The Node binary; default process.execPath (inside VS Code: Electron run as Node, see ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  /** Node flags for the worker, e.g. ['--max-old-space-size=8192']; default none (the host's own flags, such as --inspect, are NOT inherited). */
  execArgv?: string[];
  /** Receives the worker's stderr, line by line (ORT's native messages, worker bug reports). */
  onLog?: (line: string) => void;
  /** How long the worker may take to say `ready` (ms, default 30 000). */
  startTimeoutMs?: number;
  /**
   * The worker's memory ceiling in bytes (its resident set, native memory included); past it the worker
   * is stopped and the request fails with exit code 2. Default: DEFAULT_MEMORY_FRACTION of the machine's memory; 0 = none.
   */
  memoryLimitBytes?: number;
  /** How long a cancelled request may take to stop before the worker is killed (ms, default 3000): native code cannot see `cancel`. */
  cancelGraceMs?: number;
}

/** Default memory ceiling: this share of the machine's memory, so that a runaway model fails before the kernel's OOM killer picks a victim. */
export const DEFAULT_MEMORY_FRACTION = 0.75;

export function defaultMemoryLimitBytes(): number {
  return Math.floor(os.totalmem() * DEFAULT_MEMORY_FRACTION);
}

/** A request stopped by a limit the user set (or could set): time or memory. Bad input, not a defect: exit code 2. */
export class WorkerLimitError extends ModelFuseError {
  constructor(message: string) {
    super(message, { exitCode: 2 });
    this.name = 'WorkerLimitError';
  }
}

export interface Progress {
  message: string;
  done?: number;
  total?: number;
}

/** A VS Code CancellationToken, or an AbortSignal. */
export type CancellationLike =
  | AbortSignal
  | { readonly isCancellationRequested: boolean; onCancellationRequested(listener: (e: unknown) => unknown): { dispose(): unknown } };

export interface RequestOptions {
  onProgress?: (p: Progress) => void;
  /** Cancelling sends `cancel`; the promise then rejects with CancelledError once the worker has stopped the request. */
  token?: CancellationLike;
  /** Stop the request (and the worker running it) after `ms`; the error says `${what} did not finish within …`. */
  timeout?: { ms: number; what: string; hint?: string };
}

interface Pending {
  child: ChildProcess;
  method: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: (p: Progress) => void;
  unhook(): void;
}

const STDERR_LINES_KEPT = 8;

/** Every worker process alive in this host, for a signal handler that must stop them synchronously. */
const liveWorkers = new Set<ChildProcess>();

/**
 * SIGKILLs every worker this process started (for signal handlers: the host is about to exit and must
 * not leave a worker behind). Returns their pids, whose temporaries the caller may then remove.
 */
export function killAllWorkersNow(): number[] {
  const pids: number[] = [];
  for (const child of liveWorkers) {
    if (child.pid !== undefined) pids.push(child.pid);
    child.kill('SIGKILL');
  }
  liveWorkers.clear();
  return pids;
}

/** worker.js beside the running bundle (dist/cli.js, dist/extension.js), else the repository's dist/ when running from TypeScript sources. */
export function defaultWorkerPath(): string {
  const candidates = [path.join(__dirname, 'worker.js'), path.resolve(__dirname, '../../dist/worker.js')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new ModelFuseError(`the ONNX Runtime worker bundle is missing (looked for ${candidates.join(' and ')}); run \`npm run build\``);
  return found;
}

export class WorkerClient {
  private child: ChildProcess | undefined;
  private starting: Promise<{ child: ChildProcess; ready: ReadyMessage }> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private disposed = false;
  private readonly stopping = new WeakSet<ChildProcess>();
  private readonly crashListeners = new Set<(message: string) => void>();

  constructor(private readonly options: WorkerClientOptions = {}) {
    if (options.threads !== undefined && (!Number.isSafeInteger(options.threads) || options.threads < 0)) {
      throw new ModelFuseError(`worker thread count must be a non-negative integer, not ${options.threads}`);
    }
  }

  /** The memory ceiling the worker's watchdog enforces (bytes; 0 = none). */
  get memoryLimit(): number {
    return this.options.memoryLimitBytes ?? defaultMemoryLimitBytes();
  }

  /** The worker's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Called with the crash message whenever the worker dies unexpectedly (for an Output channel). */
  onDidCrash(listener: (message: string) => void): { dispose(): void } {
    this.crashListeners.add(listener);
    return { dispose: () => this.crashListeners.delete(listener) };
  }

  /** Starts the worker if it is not running; resolves with its ready handshake. */
  async start(): Promise<ReadyMessage> {
    return (await this.ensureStarted()).ready;
  }

  async request<M extends WorkerMethod>(method: M, params: ParamsOf<M>, options: RequestOptions = {}): Promise<ResultOf<M>> {
    if (this.disposed) throw new WorkerRequestError('the ONNX Runtime worker client was disposed', 'bad-request');
    const { token } = options;
    if (isCancelled(token)) throw new CancelledError();
    let { child } = await this.ensureStarted();
    if (!child.connected) {
      // it died between its start and now (its exit is still being processed): use a fresh one
      this.forget(child);
      ({ child } = await this.ensureStarted());
    }
    if (isCancelled(token)) throw new CancelledError();
    const id = ++this.nextId;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const unhookCancel = hookCancellation(token, () => {
        if (!this.pending.has(id)) return;
        this.post(child, { type: 'cancel', id });
        // A worker stuck in native code never reads `cancel`: stop it, so that cancelling always ends the request.
        timers.push(setTimeout(() => this.stopFor(child, id, new CancelledError()), this.options.cancelGraceMs ?? 3000));
      });
      if (options.timeout) {
        const { ms, what, hint } = options.timeout;
        timers.push(setTimeout(() => {
          this.stopFor(child, id, new WorkerLimitError(`${what} did not finish within ${formatSeconds(ms)}${hint ? ` (${hint})` : ''}; the ONNX Runtime worker was stopped and will be restarted`));
        }, ms));
      }
      const unhook = () => {
        unhookCancel();
        for (const t of timers) clearTimeout(t);
      };
      this.pending.set(id, { child, method, resolve: resolve as (v: unknown) => void, reject, onProgress: options.onProgress, unhook });
      this.updateRef(child);
      try {
        child.send({ type: 'request', id, method, params } satisfies HostToWorker, (err: Error | null) => {
          if (err) this.settle(id, undefined, new WorkerCrashedError(`could not send '${method}' to the ONNX Runtime worker (${err.message}); it will be restarted`));
        });
      } catch (err) {
        // Synchronous failures are ours: params that cannot be cloned (functions, class instances with natives).
        this.settle(id, undefined, new WorkerRequestError(`cannot send '${method}' to the worker: ${(err as Error).message}`, 'bad-request'));
      }
    });
  }

  /** Stops the worker; requests in flight are rejected. The client can not be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stop();
  }

  /** Stops the worker (requests in flight are rejected); the next request starts a new one. */
  async stop(): Promise<void> {
    const starting = this.starting;
    const child = this.child;
    this.child = undefined;
    this.starting = undefined;
    const target = child ?? (await starting?.then((s) => s.child).catch(() => undefined));
    if (!target || target.exitCode !== null || target.signalCode !== null) return;
    this.stopping.add(target);
    this.setRef(target, true); // keep the host alive until the worker is really gone
    const exited = new Promise<void>((r) => target.once('exit', () => r()));
    // Closing the channel makes the worker exit by itself; kill as a fallback if it hangs in native code.
    if (target.connected) target.disconnect();
    const timer = setTimeout(() => target.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  // ---------------------------------------------------------------- internals

  /** Fails request `id` with `error` and kills the worker running it (its other requests end as stopped). */
  private stopFor(child: ChildProcess, id: number, error: Error): void {
    if (!this.pending.has(id)) return;
    this.settle(id, undefined, error);
    this.forget(child);
    this.stopping.add(child);
    child.kill('SIGKILL');
  }

  private ensureStarted(): Promise<{ child: ChildProcess; ready: ReadyMessage }> {
    if (!this.starting) {
      const starting = this.spawn();
      this.starting = starting;
      starting.catch(() => {
        if (this.starting === starting) this.starting = undefined;
      });
    }
    return this.starting;
  }

  private spawn(): Promise<{ child: ChildProcess; ready: ReadyMessage }> {
    const workerPath = this.options.workerPath ?? defaultWorkerPath();
    if (!fs.existsSync(workerPath)) {
      return Promise.reject(new ModelFuseError(`the ONNX Runtime worker bundle is missing (${workerPath}); run \`npm run build\``));
    }
    const child = fork(workerPath, [], {
      execPath: this.options.execPath ?? process.execPath,
      execArgv: this.options.execArgv ?? [],
      env: {
        ...process.env,
        // Inside VS Code process.execPath is Electron; this makes it behave as plain Node.
        ELECTRON_RUN_AS_NODE: '1',
        [WORKER_THREADS_ENV]: String(this.options.threads ?? 0),
        [WORKER_MEMORY_LIMIT_ENV]: String(this.memoryLimit),
        [WORKER_PARENT_PID_ENV]: String(process.pid),
        ...this.options.env,
      },
      serialization: 'advanced', // structured clone: typed arrays cross as binary
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    liveWorkers.add(child);
    const tail = this.captureOutput(child);

    return new Promise((resolve, reject) => {
      let ready: ReadyMessage | undefined;
      const timeout = this.options.startTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        reject(new WorkerCrashedError(`the ONNX Runtime worker did not start within ${timeout} ms${stderrSummary(tail)}`));
        child.kill('SIGKILL');
      }, timeout);
      child.on('message', (msg: unknown) => {
        if (!isWorkerToHost(msg)) {
          this.options.onLog?.(`modelfuse: ignoring malformed message from the worker: ${JSON.stringify(msg)?.slice(0, 200)}`);
          return;
        }
        if (msg.type === 'ready') {
          clearTimeout(timer);
          if (msg.protocol !== WORKER_PROTOCOL_VERSION) {
            reject(new WorkerCrashedError(`the ONNX Runtime worker at ${workerPath} speaks protocol ${msg.protocol}, this host ${WORKER_PROTOCOL_VERSION}; rebuild with \`npm run build\``));
            child.kill();
            return;
          }
          ready = msg;
          this.updateRef(child);
          resolve({ child, ready: msg });
        } else if (msg.type === 'progress') {
          const p = this.pending.get(msg.id);
          if (p?.onProgress) {
            try {
              p.onProgress({ message: msg.message, done: msg.done, total: msg.total });
            } catch {
              // a throwing progress listener must not break the protocol
            }
          }
        } else {
          this.settle(msg.id, msg.result, msg.error ? payloadToError(msg.error, this.pending.get(msg.id)?.method ?? '?') : undefined);
        }
      });
      child.on('error', (err) => {
        // fork itself failed (e.g. the Node binary cannot be executed): there may be no 'exit' to wait for
        this.options.onLog?.(`modelfuse: worker process error: ${err.message}`);
        if (!ready) {
          clearTimeout(timer);
          this.forget(child);
          reject(new WorkerCrashedError(`the ONNX Runtime worker could not be started: ${err.message}`));
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        liveWorkers.delete(child);
        // Forget it at once, so a request made while we wait for its last words goes to a new worker.
        this.forget(child);
        void this.afterStderrDrained(child).then(() => {
          const how = signal ? `killed by ${signal}` : `exit code ${code}`;
          if (this.stopping.has(child)) {
            this.rejectAll(child, () => new WorkerRequestError('the ONNX Runtime worker was stopped before the request finished', 'crashed'));
            return;
          }
          if (!ready) {
            reject(new WorkerCrashedError(`the ONNX Runtime worker failed to start (${how}${stderrSummary(tail)})`));
            return;
          }
          if (signal === WORKER_MEMORY_LIMIT_SIGNAL) {
            const message = `the ONNX Runtime worker passed its memory ceiling of ${formatMegabytes(this.memoryLimit)} and was stopped; it will be restarted`;
            for (const l of this.crashListeners) l(message);
            this.rejectAll(child, () => new WorkerLimitError(message));
            return;
          }
          const message = `the ONNX Runtime worker crashed (${how}${stderrSummary(tail)}); it will be restarted`;
          for (const l of this.crashListeners) l(message);
          this.rejectAll(child, () => new WorkerCrashedError(message));
        });
      });
    });
  }

  private forget(child: ChildProcess): void {
    if (this.child === child) {
      this.child = undefined;
      this.starting = undefined;
    }
  }

  /**
   * After 'exit' the stderr pipe may still hold the worker's last words (a
   * native abort's reason); wait for it to end, briefly, so the crash message
   * can quote them. ('close' would wait for it too, but is not emitted at all
   * when the host's loop has nothing else to do.)
   */
  private afterStderrDrained(child: ChildProcess): Promise<void> {
    const stderr = child.stderr;
    if (!stderr || stderr.readableEnded || stderr.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 250);
      stderr.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Forwards the worker's output to onLog and keeps its last lines (returned) for crash messages. */
  private captureOutput(child: ChildProcess): string[] {
    const tail: string[] = [];
    const onLine = (line: string) => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > STDERR_LINES_KEPT) tail.shift();
      this.options.onLog?.(line);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
      stream?.on('end', () => buf && onLine(buf));
    }
    return tail;
  }

  private settle(id: number, result: unknown, error: Error | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.unhook();
    this.updateRef(p.child);
    if (error) p.reject(error);
    else p.resolve(result);
  }

  private rejectAll(child: ChildProcess, makeError: () => Error): void {
    for (const [id, p] of [...this.pending]) if (p.child === child) this.settle(id, undefined, makeError());
  }

  private post(child: ChildProcess, msg: HostToWorker): void {
    if (child.connected) child.send(msg, (err) => err && this.options.onLog?.(`modelfuse: could not send to the worker: ${err.message}`));
  }

  /** Keep the host alive only while a request is in flight (see the module comment). */
  private updateRef(child: ChildProcess): void {
    if (this.stopping.has(child)) return;
    this.setRef(child, [...this.pending.values()].some((p) => p.child === child));
  }

  private setRef(child: ChildProcess, ref: boolean): void {
    type Refable = { ref?(): void; unref?(): void } | null | undefined;
    // The pipes are net.Sockets at run time, which can be (un)ref'd; their static type is only Readable.
    const handles: Refable[] = [child, child.channel as Refable, child.stdout as Refable, child.stderr as Refable];
    for (const h of handles) {
      if (ref) h?.ref?.();
      else h?.unref?.();
    }
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(3))} s`;
}

function formatMegabytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MB`;
}

/** The last line the worker printed, for crash messages (a native abort usually says why). */
function stderrSummary(tail: readonly string[]): string {
  // Skip stack-trace lines (JS "at …", V8's numbered native frames and "----- … -----" banners).
  const last = tail.filter((l) => !/^\s*(at |\d+: |-----)/.test(l)).pop();
  return last ? `; last output: ${JSON.stringify(last.trim().slice(0, 300))}` : '';
}

function isCancelled(token: CancellationLike | undefined): boolean {
  if (!token) return false;
  return 'aborted' in token ? token.aborted : token.isCancellationRequested;
}

function hookCancellation(token: CancellationLike | undefined, onCancel: () => void): () => void {
  if (!token) return () => undefined;
  if ('aborted' in token) {
    token.addEventListener('abort', onCancel, { once: true });
    return () => token.removeEventListener('abort', onCancel);
  }
  const d = token.onCancellationRequested(onCancel);
  return () => d.dispose();
}
