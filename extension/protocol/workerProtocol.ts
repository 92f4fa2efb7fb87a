/**
 * The one module of message types between a host (the VS Code extension host
 * or the CLI) and the ONNX Runtime worker, a child process. Both sides import
 * it; nothing here imports Node, VS Code or ONNX Runtime, so it can be bundled
 * anywhere.
 *
 * The conversation:
 *   worker → host  `ready`     once, after start: protocol version and the methods it serves
 *   host → worker  `request`   { id, method, params }; ids are unique per worker process
 *   worker → host  `progress`  { id, message, done?, total? } any number, while the request runs
 *   host → worker  `cancel`    { id }; the handler stops at its next check and answers `cancelled`
 *   worker → host  `response`  { id, result } or { id, error: { message, code, exitCode? } }, exactly once
 *
 * Messages travel over Node's IPC channel with `serialization: 'advanced'`
 * (the V8 structured-clone format), so typed arrays (matmul operands and
 * results) cross as binary, not as JSON number lists.
 *
 * The methods (name → params and result) are the one table in
 * workerMethods.ts; the types of the ONNX Runtime methods are defined here.
 */

import { CancelledError, ERROR_CODES, ModelFuseError, type ErrorCode, type ErrorData, type Phrase } from '../engine/errors';

// The verify report is the engine's; the wire carries it as is.
export type { InputsDescription, InputTensorDescription, LatencyPair, OutputReport, VerifyReport } from '../engine/stats/verifyReport';

export const WORKER_PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------- envelopes

export interface ReadyMessage {
  type: 'ready';
  protocol: number;
  pid: number;
  /** Every method the worker has a handler for (built-in and registered). */
  methods: string[];
}

export interface RequestMessage {
  type: 'request';
  id: number;
  method: string;
  params: unknown;
}

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

export interface ProgressMessage {
  type: 'progress';
  id: number;
  message: string;
  /** Units done so far and the total, when the handler knows them (for a progress bar). */
  done?: number;
  total?: number;
}

export interface ResponseMessage {
  type: 'response';
  id: number;
  result?: unknown;
  error?: WorkerErrorPayload;
}

/**
 * Why a request failed:
 * - `user`: bad input (a corrupt model, a wrong shape): a one-line ModelFuseError, `exitCode` for the CLI;
 * - `cancelled`: the host cancelled it;
 * - `unknown-method`: no handler for the method;
 * - `bad-request`: the envelope or params were malformed (a host bug);
 * - `internal`: any other exception in the worker (a worker bug);
 * - `crashed`: made by the CLIENT when the worker process died with the request in flight.
 */
export type WorkerErrorCode = 'user' | 'cancelled' | 'unknown-method' | 'bad-request' | 'internal' | 'crashed';

export interface WorkerErrorPayload {
  message: string;
  code: WorkerErrorCode;
  /** For `user` errors: the CLI exit code (2 = bad input). */
  exitCode?: number;
  /** For `user` errors: the raw message behind the translated one (for the log and --debug). */
  detail?: string;
  /**
   * For `user` errors: the ModelFuseError's code, data and phrase (the text with its front-end terms
   * and remedy), so that the host words it as the worker's caller would.
   */
  errorCode?: ErrorCode;
  data?: ErrorData;
  phrase?: Phrase;
}

export type HostToWorker = RequestMessage | CancelMessage;
export type WorkerToHost = ReadyMessage | ProgressMessage | ResponseMessage;

// ---------------------------------------------------------------- methods

export type OrtOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface VerifyParams {
  /** The reference model (usually the original) and the model under test (usually the fused one). */
  modelA: string;
  modelB: string;
  /**
   * A safetensors file with one tensor per model input, named `<input>` or `input.<input>`, or a .npy
   * file for a single-input model. Without it: seeded random inputs.
   */
  inputs?: string;
  /** Shapes for random inputs, by input name; other dynamic dimensions are chosen from the model (engine/stats/inputShapes.ts). */
  shapes?: Record<string, number[]>;
  /** Integer inputs are drawn uniformly from [lo, hi); default [0, 10). */
  intRange?: [number, number];
  /** PRNG seed for random inputs (default 0). */
  seed?: number;
  /** Tolerances, as numpy.allclose: |a−b| ≤ atol + rtol·|b|. Defaults 1e-4 and 1e-3. */
  atol?: number;
  rtol?: number;
  /**
   * Timed runs per model and optimization level (median reported); 0 skips latency. Default 20. At most
   * this many: a model's runs stop after 5 s (never before 3); the report's `latency_ms.runs` is the fewest made.
   */
  runs?: number;
  /** Untimed runs before timing (default 2). */
  warmups?: number;
}

export interface OptimizeParams {
  model: string;
  output: string;
  level: 'basic' | 'extended';
  /** Replace an existing output file. */
  force?: boolean;
}

export interface OptimizeResult {
  output: string;
  /** Written beside the output when the input kept its weights in external data, else null. */
  externalData: string | null;
  level: 'basic' | 'extended';
  nodesBefore: number;
  nodesAfter: number;
  /** Operators of non-ONNX domains in the output (`com.microsoft::FusedConv` → count): these run only on ONNX Runtime. */
  nonStandardOps: Record<string, number>;
}

export interface LatencyParams {
  model: string;
  level?: OrtOptimizationLevel;
  runs?: number;
  warmups?: number;
  shapes?: Record<string, number[]>;
  intRange?: [number, number];
  seed?: number;
}

export interface LatencyResult {
  model: string;
  level: OrtOptimizationLevel;
  runs: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
}

/** C[m×n] = A[m×k] · B[k×n], row-major float32, computed by ONNX Runtime's MatMul (multi-threaded MLAS). */
export interface MatmulParams {
  a: Float32Array;
  b: Float32Array;
  m: number;
  k: number;
  n: number;
}

export interface MatmulResult {
  c: Float32Array;
}

export interface PingResult {
  pid: number;
  methods: string[];
  /** ONNX Runtime version, once it has been loaded in this worker; null before. */
  ortVersion: string | null;
  threads: number;
}

/** Environment variable that enables the debug methods in the worker. */
export const WORKER_DEBUG_ENV = 'MODELFUSE_WORKER_DEBUG';
/** Environment variable carrying the ORT intra-op thread count to the worker (0 = ORT's default). */
export const WORKER_THREADS_ENV = 'MODELFUSE_ORT_THREADS';
/** Environment variable carrying the worker's memory ceiling in bytes (0 = none); the worker's watchdog enforces it. */
export const WORKER_MEMORY_LIMIT_ENV = 'MODELFUSE_WORKER_MEMORY_LIMIT';
/** Environment variable carrying the host's pid: the worker ends itself as soon as its parent is no longer that process. */
export const WORKER_PARENT_PID_ENV = 'MODELFUSE_WORKER_PARENT_PID';
/** The signal the worker's watchdog ends the worker with when it passes its memory ceiling. */
export const WORKER_MEMORY_LIMIT_SIGNAL = 'SIGUSR2';

// ---------------------------------------------------------------- validation

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks a message the worker received; anything else is dropped (a host bug, never user input). */
export function isHostToWorker(msg: unknown): msg is HostToWorker {
  if (!isObject(msg) || !isId(msg.id)) return false;
  if (msg.type === 'cancel') return true;
  return msg.type === 'request' && typeof msg.method === 'string';
}

/** Checks a message the host received from the worker. */
export function isWorkerToHost(msg: unknown): msg is WorkerToHost {
  if (!isObject(msg)) return false;
  switch (msg.type) {
    case 'ready':
      return typeof msg.protocol === 'number' && Array.isArray(msg.methods);
    case 'progress':
      return isId(msg.id) && typeof msg.message === 'string';
    case 'response':
      return isId(msg.id) && (msg.error === undefined || (isObject(msg.error) && typeof msg.error.message === 'string' && typeof msg.error.code === 'string'));
    default:
      return false;
  }
}

// ---------------------------------------------------------------- errors across the boundary

/**
 * A request failed for a reason that is not the user's input: a bug in a
 * handler, an unknown method, or a crashed worker. `code` says which.
 */
export class WorkerRequestError extends Error {
  constructor(message: string, readonly code: WorkerErrorCode) {
    super(message);
    this.name = 'WorkerRequestError';
  }
}

/**
 * The worker process died (a native crash in ONNX Runtime, out of memory, a
 * kill) while requests were in flight. A ModelFuseError so that front ends
 * show it as one line; exit code 3, as it is not the user's input.
 */
export class WorkerCrashedError extends ModelFuseError {
  constructor(message: string) {
    super(message, { exitCode: 3, code: 'worker/crashed' });
    this.name = 'WorkerCrashedError';
  }
}

/** Worker side: what an exception thrown by a handler becomes on the wire. */
export function errorToPayload(err: unknown): WorkerErrorPayload {
  if (err instanceof CancelledError) return { message: 'cancelled', code: 'cancelled' };
  if (err instanceof ModelFuseError) {
    return {
      message: err.message, code: 'user', exitCode: err.exitCode,
      ...(err.detail ? { detail: err.detail } : {}),
      ...(err.code ? { errorCode: err.code } : {}),
      ...(err.data ? { data: err.data } : {}),
      ...(err.phrase !== undefined ? { phrase: err.phrase } : {}),
    };
  }
  if (err instanceof WorkerRequestError) return { message: err.message, code: err.code };
  const message = err instanceof Error ? err.message : String(err);
  return { message: message.split('\n')[0], code: 'internal' };
}

/** Host side: the payload back into the exception callers catch (ModelFuseError, CancelledError, or WorkerRequestError). */
export function payloadToError(p: WorkerErrorPayload, method: string): Error {
  switch (p.code) {
    case 'user':
      return new ModelFuseError(isPhrase(p.phrase) ? p.phrase : p.message, {
        exitCode: p.exitCode ?? 2, detail: p.detail,
        ...(typeof p.errorCode === 'string' && (ERROR_CODES as readonly string[]).includes(p.errorCode) ? { code: p.errorCode } : {}),
        ...(isObject(p.data) ? { data: p.data as ErrorData } : {}),
      });
    case 'cancelled':
      return new CancelledError();
    case 'crashed':
      return new WorkerCrashedError(p.message);
    case 'internal':
      return new WorkerRequestError(`internal error in the worker's '${method}' handler: ${p.message}`, 'internal');
    default:
      return new WorkerRequestError(p.message, p.code);
  }
}

/** A phrase as sent by the worker: words, or words and terms (objects with a `term`). */
function isPhrase(p: unknown): p is Phrase {
  return typeof p === 'string' || (Array.isArray(p) && p.every((x) => typeof x === 'string' || (isObject(x) && typeof x.term === 'string')));
}
