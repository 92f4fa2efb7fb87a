/**
 * The worker's handler registry: method name → function. Every method of
 * the table in protocol/workerMethods.ts is a handler registered here, each
 * in its own file under handlers/, without touching the worker core.
 *
 * ## Adding a method (e.g. `scan/run`)
 * 1. Add it to the one table, extension/protocol/workerMethods.ts:
 *    `'scan/run': { params: ScanParams; result: ScanResult };` (name `domain/verb`; one
 *    params type; results must be structured-cloneable: plain objects, arrays, typed
 *    arrays; no class instances or functions).
 * 2. Create `extension/workerProcess/handlers/scan.ts`:
 *    ```ts
 *    import { registerHandler } from '../registry';
 *    registerHandler('scan/run', async (params, ctx) => {
 *      ctx.progress('reading model');          // → onProgress on the host
 *      ctx.throwIfCancelled();                 // between units of work
 *      return runScan(params.model, { token: ctx.token });
 *    });
 *    ```
 * 3. Add `import './scan';` to `extension/workerProcess/handlers/index.ts`.
 * 4. Call it from the host: `await client.request('scan/run', { model }, { onProgress, token })`.
 *
 * Throw `ModelFuseError` (or `fileError(path, problem)`) for anything the user
 * caused: the host receives the same one-line message and exit code.
 * `CancelledError` becomes a cancellation; anything else is reported as an
 * internal error of the handler.
 */
import { CancelledError, type CancelToken } from '../engine/errors';
import type { ParamsOf, ResultOf, WorkerMethod } from '../protocol/workerMethods';

export interface HandlerContext {
  /** The request id (for logs). */
  readonly id: number;
  /** Becomes cancelled when the host sends `cancel` for this request; pass it to engine code that takes a CancelToken. */
  readonly token: CancelToken;
  /** Throws CancelledError if the host cancelled. */
  throwIfCancelled(): void;
  /** Sends a progress message to the host ("running A (3/20)"). */
  progress(message: string, done?: number, total?: number): void;
}

export type Handler<P = unknown, R = unknown> = (params: P, ctx: HandlerContext) => Promise<R> | R;

const handlers = new Map<string, Handler>();

/** Registers the handler of a method of the table in protocol/workerMethods.ts (any other name does not compile). */
export function registerHandler<M extends WorkerMethod>(method: M, fn: Handler<ParamsOf<M>, ResultOf<M>>): void {
  if (handlers.has(method)) throw new Error(`worker handler '${method}' is registered twice`);
  handlers.set(method, fn as Handler);
}

export function getHandler(method: string): Handler | undefined {
  return handlers.get(method);
}

export function registeredMethods(): string[] {
  return [...handlers.keys()].sort();
}

/** A CancelToken the worker flips when `cancel` arrives. */
export class RequestCancellation implements CancelToken {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
  }
  throwIfCancelled(): void {
    if (this.cancelled) throw new CancelledError();
  }
}
