/**
 * The one error type users see. Every problem a user can cause (a corrupt
 * file, a bad argument, an adapter that matches nothing) becomes a
 * ModelFuseError whose message is a single line naming the file and the
 * problem. Front ends print `message` and hide the stack unless debugging;
 * anything that is not a ModelFuseError is a bug and is shown as one.
 */
import { escapeControls } from './text/inert';
import { joinPhrase, neutralText, remedyOf, type Phrase, type Remedy } from './remedy';

export type { Phrase, Remedy } from './remedy';

/**
 * What went wrong, as a stable identifier: front ends and tests tell errors
 * apart by it (never by the words), and the wording of the remedy hangs on
 * the error's phrase (remedy.ts).
 */
export const ERROR_CODES = [
  'inputs/bad-shape',
  'inputs/shape-twice',
  'inputs/bad-int-range',
  'inputs/shape-rank',
  'inputs/shape-fixed-dim',
  'inputs/unknown-input',
  'inputs/no-random-values',
  'inputs/int-range-type',
  'lora/no-adapter',
  'lora/bad-adapter-weight',
  'lora/adapter-dir-has-several',
  'lora/no-adapter-config',
  'lora/cannot-merge',
  'output/exists',
  'output/is-input',
  'output/data-exists',
  'output/written-meanwhile',
  'worker/crashed',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The values behind an error's words (paths, names, numbers), for front ends and tests. */
export type ErrorData = Readonly<Record<string, string | number | boolean | readonly string[]>>;

export interface ModelFuseErrorOptions {
  exitCode?: number;
  cause?: unknown;
  detail?: string;
  code?: ErrorCode;
  data?: ErrorData;
}

export class ModelFuseError extends Error {
  /** Exit code for the CLI: 2 = bad input or usage (1 is reserved for "verification failed"). */
  readonly exitCode: number;
  /**
   * The raw text behind a translated message (protobufjs's, ONNX Runtime's C++
   * message): for the log and `--debug`, never the one line users read.
   */
  readonly detail?: string;
  /** What went wrong, when front ends or tests need to tell it apart. */
  readonly code?: ErrorCode;
  /** The values behind the words. */
  readonly data?: ErrorData;
  /**
   * The text with its front-end-dependent terms (an option the user set, the
   * remedy): each front end words it (cli/remedyText.ts, host/remedyText.ts);
   * `message` is its neutral wording. Absent when the message is all there is.
   */
  readonly phrase?: Phrase;
  /** What the user can do, when it depends on the front end (also the last term of `phrase`). */
  readonly remedy?: Remedy;
  constructor(message: Phrase, options?: ModelFuseErrorOptions) {
    super(oneLine(neutralText(message)), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'ModelFuseError';
    this.exitCode = options?.exitCode ?? 2;
    if (options?.detail) this.detail = oneLine(options.detail);
    if (options?.code) this.code = options.code;
    if (options?.data) this.data = options.data;
    if (typeof message !== 'string') {
      this.phrase = message;
      const remedy = remedyOf(message);
      if (remedy) this.remedy = remedy;
    }
  }
}

/** The error's text as a front end words it (`word` words each term); the message when it has no terms. */
export function errorText(err: ModelFuseError, word: (p: Phrase) => string): string {
  return err.phrase === undefined ? err.message : oneLine(word(err.phrase));
}

/**
 * Messages quote names taken from untrusted files (tensor, node, location);
 * a name with a newline or terminal escape must not break the one-line
 * contract or the user's terminal, and a megabyte-long name must not flood it.
 */
export function oneLine(message: string): string {
  const escaped = escapeControls(message);
  return escaped.length > 2000 ? `${escaped.slice(0, 2000)}…` : escaped;
}

/** A problem with one named file: the message always starts with the path. */
export function fileError(path: string, problem: Phrase, cause?: unknown, detail?: string, coded?: { code: ErrorCode; data?: ErrorData }): ModelFuseError {
  return new ModelFuseError(joinPhrase(`${path}: `, problem), { cause, detail, ...coded });
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
