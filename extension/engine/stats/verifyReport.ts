/**
 * What `verify` reports: per-output statistics, latency, the inputs used and
 * why a pass may prove little. The engine owns this shape; the worker sends
 * it as is, the CLI prints it (`verify --json`), the webviews show it.
 */
import type { DiffStats } from './outputDiff';

/** Statistics of one output (the numbers are null when it could not be compared; see `reason`). */
export interface OutputReport extends DiffStats {
  /** Why it failed (missing output, shape mismatch, elements over tolerance, NaN/Inf mismatches). */
  reason?: string;
  /** Element type and shape in A (and in B when they differ). */
  dtype: string;
  shape: number[];
  dtype_b?: string;
  shape_b?: number[];
}

export interface LatencyPair {
  /** Median wall time of one session.run, in milliseconds, at ORT optimization `disabled` and `all`. */
  disabled: number;
  all: number;
}

export interface InputTensorDescription {
  dtype: string;
  shape: number[];
  /** `normal(0,1)`, `uniform integers [0, 10)`, `bernoulli(0.5)`, or `file tensor 'input.x'`. */
  values: string;
  /** Random inputs: the model's declared dims (symbols / null for dynamic ones) and how the sizes were chosen. */
  declared?: (number | string | null)[];
  shape_from?: string;
}

export interface InputsDescription {
  source: 'random' | 'file';
  /** random: the seed; file: the path. */
  seed?: number;
  int_range?: [number, number];
  file?: string;
  tensors: Record<string, InputTensorDescription>;
  /** The model's largest Conv/pooling stride product per spatial axis (last = width), when image sizes were chosen as multiples of it. */
  total_stride?: number[];
  /** Inputs with a dimension nothing decided (set to 1): the extension asks for shapes. */
  guessed?: string[];
}

export interface VerifyReport {
  passed: boolean;
  a: string;
  b: string;
  tolerance: { atol: number; rtol: number };
  outputs: Record<string, OutputReport>;
  /** null when latency was skipped (runs = 0). */
  latency_ms: { runs: number; warmups: number; a: LatencyPair; b: LatencyPair } | null;
  inputs: InputsDescription;
  /**
   * Why a pass at these inputs proves little (a Conv window larger than its
   * input, an output constant for this input). Empty: a real check. A report
   * that passed with reasons here is a "weak check", never "verified".
   */
  weak: string[];
}
