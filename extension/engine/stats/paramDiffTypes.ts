/**
 * What the parameter-diff view receives: summaries only. Per tensor a few
 * norms and two fixed-size histograms, per fold its per-channel scale and
 * shift, per LoRA layer its rank figures. A 100 M-parameter model becomes a
 * few hundred KB of numbers; weights never leave the worker.
 * Plain data (structured-cloneable, JSON-serialisable), shared by worker,
 * host and webview.
 */

export interface Histogram {
  /** Shared range of both distributions (finite values only); equal when every value is the same. */
  min: number;
  max: number;
  /** Counts per bin, `bins` equal-width bins over [min, max]; the last bin includes max. */
  before: number[];
  after: number[];
  /** NaN / ±Inf values, which no bin holds. */
  nonFiniteBefore: number;
  nonFiniteAfter: number;
}

export type TensorChange = 'changed' | 'added' | 'reshaped';

export interface TensorDiff {
  /** Name in the second (fused / merged) model. */
  name: string;
  /** Name in the first model; differs when a fold made a copy; null for an added tensor (a new bias). */
  beforeName: string | null;
  /** PyTorch module path, when it can be recovered. */
  module: string | null;
  shape: number[];
  /** Shape in the first model when it differs (status `reshaped`). */
  shapeBefore?: number[];
  dtype: string;
  elements: number;
  status: TensorChange;
  /** L2 norms (an added tensor's "before" is all zeros). */
  normBefore: number;
  normAfter: number;
  /** ‖after − before‖₂; null when the shapes differ. */
  deltaNorm: number | null;
  /** ‖ΔW‖ / ‖W‖; null when ‖W‖ = 0 or the shapes differ. */
  relativeChange: number | null;
  maxAbsDelta: number | null;
  histogram: Histogram;
  /** The fold (its candidate id) or LoRA layer (its target) that changed it, when known. */
  foldId?: string;
  loraTarget?: string;
}

export interface TensorRef {
  name: string;
  shape: number[];
  dtype: string;
  module: string | null;
}

/** The per-output-channel affine map a Conv/Gemm+BN fold applied: W' = W·scale, b' = b·scale + shift. */
export interface ChannelAffineStats {
  /** The BatchNormalization node folded away. */
  bnNode: string;
  epsilon: number;
  /** γ/√(σ²+ε) per output channel. */
  scale: number[];
  /** β − μ·γ/√(σ²+ε) per output channel. */
  shift: number[];
}

export interface FoldSummary {
  id: string;
  pattern: string;
  nodes: string[];
  modules: (string | null)[];
  removedNodes: string[];
  /** Changed tensors by (after) name. */
  tensors: string[];
  /** For folds of a BatchNormalization. */
  channels?: ChannelAffineStats;
}

export interface EffectiveRank {
  /** Number of singular values above `tolerance`. */
  rank: number;
  /** The largest singular values found, descending (at most 32). */
  singularValues: number[];
  tolerance: number;
  /** `exact`: all singular values; `randomized`: the top ones through a randomized range finder (sufficient for a low-rank ΔW). */
  method: 'exact' | 'randomized';
  /** The matrix ΔW was read as: [rows, columns] (a conv kernel as [out, in·k…]). */
  matrix: [number, number];
}

export interface LoraLayerStats {
  /** Base tensor the adapter was merged into. */
  target: string;
  module: string | null;
  /** Adapter keys merged into it (`…lora_A.weight`, `…lora_B.weight`). */
  keys: string[];
  adapter?: string;
  rank: number;
  /** alpha / r (or the kohya / rsLoRA equivalent), times the user's weight. */
  scale: number;
  relativeChange: number | null;
  deltaNorm: number | null;
  /** Numerical rank of the actual ΔW = merged − base (≤ rank for a correct merge). */
  effectiveRank: EffectiveRank | null;
}

export interface ModelSide {
  path: string;
  tensors: number;
  parameters: number;
}

export interface ParamDiffSummary {
  before: ModelSide;
  after: ModelSide;
  bins: number;
  /** Tensors whose values differ, sorted by name. */
  changed: TensorDiff[];
  /** Present in both with identical bytes. */
  unchangedCount: number;
  unchangedParameters: number;
  /** Only in the first model and not the source of a changed tensor (e.g. folded BN parameters). */
  removed: TensorRef[];
  folds: FoldSummary[];
  lora: LoraLayerStats[];
}

// ----------------------------------------------------------------- records

/** The part of a fold record (fuse's AppliedFold) the diff reads. */
export interface FoldRecord {
  id: string;
  pattern: string;
  nodes: string[];
  modules: (string | null)[];
  removedNodes: string[];
  changedTensors: { role: string; node: string; before: { name: string } | null; after: { name: string } }[];
}

/** One merged LoRA layer, as the merge reports it. */
export interface LoraLayerRecord {
  target: string;
  keys: string[];
  rank: number;
  scale: number;
  adapter?: string;
}
