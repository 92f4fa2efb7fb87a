/**
 * The extension host's access to the ONNX Runtime worker (a child process,
 * extension/workerClient/client.ts): created on the first request — activation
 * loads no native module — and reused. A crash is logged and the next request
 * starts a new worker; a change of `modelfuse.worker.threads` applies to the
 * next worker start.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WorkerClient, type Progress, type RequestOptions } from '../workerClient/client';
import type { ParamsOf, ResultOf, WorkerMethod } from '../protocol/workerMethods';
import { log } from './log';
import { currentSettings } from './config';
import { removeLiveTemporaries } from '../engine/io/atomicWrite';

let client: WorkerClient | undefined;
let extensionRoot = '';
let inFlight = 0;
/** Set when the thread count changed while requests were running: the worker is replaced once they are done. */
let restartWhenIdle = false;

export function initWorkerHost(context: vscode.ExtensionContext): void {
  extensionRoot = context.extensionPath;
  context.subscriptions.push(
    { dispose: () => void disposeWorker() },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!(e.affectsConfiguration('modelfuse.worker.threads') || e.affectsConfiguration('modelfuse.worker.memoryLimitMB')) || !client) return;
      log().info('the worker settings changed: the worker restarts with them');
      if (inFlight === 0) void disposeWorker();
      else restartWhenIdle = true;
    }),
  );
}

function workerClient(): WorkerClient {
  if (!client) {
    const { workerThreads: threads, workerMemoryLimitMb } = currentSettings();
    const c = new WorkerClient({
      workerPath: path.join(extensionRoot, 'dist', 'worker.js'),
      threads,
      memoryLimitBytes: workerMemoryLimitMb > 0 ? workerMemoryLimitMb * 2 ** 20 : undefined,
      onLog: (line) => log().debug(`[worker] ${line}`),
    });
    c.onDidCrash((message) => log().error(`[worker] ${message}`));
    client = c;
    log().info(`starting the ONNX Runtime worker (${threads || 'default'} threads)`);
  }
  return client;
}

/** One worker request with a VS Code progress reporter and cancellation token. */
export function workerRequest<M extends WorkerMethod>(
  method: M,
  params: ParamsOf<M>,
  options: { token?: vscode.CancellationToken; onProgress?: (p: Progress) => void } = {},
): Promise<ResultOf<M>> {
  const timeoutSeconds = method === 'verify/run' ? currentSettings().verifyTimeoutSeconds : 0;
  const requestOptions: RequestOptions = {
    token: options.token,
    onProgress: options.onProgress,
    timeout: timeoutSeconds > 0 ? { ms: timeoutSeconds * 1000, what: 'verification', hint: 'setting modelfuse.verify.timeoutSeconds' } : undefined,
  };
  log().debug(`worker ← ${method} ${JSON.stringify(params, (_k, v) => (ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : v))}`);
  inFlight++;
  return workerClient()
    .request(method, params, requestOptions)
    .finally(() => {
      inFlight--;
      if (inFlight === 0 && restartWhenIdle) {
        restartWhenIdle = false;
        void disposeWorker();
      }
    });
}

export async function disposeWorker(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.dispose();
}

/** On deactivate: stop the worker and remove every temporary a write in progress left. */
export async function shutDownWorker(): Promise<void> {
  removeLiveTemporaries();
  await disposeWorker();
}
