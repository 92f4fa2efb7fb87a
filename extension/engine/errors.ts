/**
 * The one error type users see. Every problem a user can cause (a corrupt
 * file, a bad argument, an adapter that matches nothing) becomes a
 * ModelFuseError whose message is a single line naming the file and the
 * problem. Front ends print `message` and hide the stack unless debugging;
 * anything that is not a ModelFuseError is a bug and is shown as one.
 */
import { escapeControls } from './text/inert';

export class ModelFuseError extends Error {
  /** Exit code for the CLI: 2 = bad input or usage (1 is reserved for "verification failed"). */
  readonly exitCode: number;
  /**
   * The raw text behind a translated message (protobufjs's, ONNX Runtime's C++
   * message): for the log and `--debug`, never the one line users read.
   */
  readonly detail?: string;
  constructor(message: string, options?: { exitCode?: number; cause?: unknown; detail?: string }) {
    super(oneLine(message), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'ModelFuseError';
    this.exitCode = options?.exitCode ?? 2;
    if (options?.detail) this.detail = oneLine(options.detail);
  }
}

/**
 * Messages quote names taken from untrusted files (tensor, node, location);
 * a name with a newline or terminal escape must not break the one-line
 * contract or the user's terminal, and a megabyte-long name must not flood it.
 */
function oneLine(message: string): string {
  const escaped = escapeControls(message);
  return escaped.length > 2000 ? `${escaped.slice(0, 2000)}…` : escaped;
}

/** A problem with one named file: the message always starts with the path. */
export function fileError(path: string, problem: string, cause?: unknown, detail?: string): ModelFuseError {
  return new ModelFuseError(`${path}: ${problem}`, { cause, detail });
}

/** ` (detail: …)` for a log line, or '' when the error carries no raw detail. */
export function detailOf(err: unknown): string {
  return err instanceof ModelFuseError && err.detail ? ` (detail: ${err.detail})` : '';
}

/** Thrown when the user (or the host) cancels a long operation. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** Cooperative cancellation: long loops call `throwIfCancelled()` between tensors. */
export interface CancelToken {
  readonly cancelled: boolean;
}

export function throwIfCancelled(token?: CancelToken): void {
  if (token?.cancelled) throw new CancelledError();
}
