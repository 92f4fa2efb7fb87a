/**
 * A fusible sequence found by `scan`, and what `fuse` needs to fold it.
 * This is the contract between pattern detection (patterns/*.ts) and folding
 * (folds/*.ts): detection fills it in, folds read it, the CLI and the
 * extension show it. Its JSON form is the `candidates[]` entry of
 * `scan --json` (see toCandidateView).
 */
import type { CandidateWarning } from './warnings';
export type PatternName =
  | 'conv-bn'
  | 'conv-bn-relu'
  | 'conv-relu'
  | 'linear-relu'
  | 'bn-relu'
  | 'linear-bn'
  | 'convtranspose-bn'
  | 'conv-add'
  | 'conv-mul'
  | 'matmul-add'
  | 'lora-branch';

export interface Candidate {
  /** Stable within one scan of one model: `<pattern>:<first node name>` (unique; a suffix is added on clashes). */
  id: string;
  pattern: PatternName;
  /**
   * Node names in data-flow order (for lora-branch: the base node first). A
   * node without a unique name appears as `<name or op_type>#<position>`
   * (graph/nodeAddress.ts), which fuse resolves the same way.
   */
  nodes: string[];
  /**
   * The PyTorch modules of the group, in data-flow order (what fuse_modules
   * takes): usually one per node, but one module can span several nodes (a
   * Linear exported as MatMul + Add) and one node can stand for several
   * modules (a Conv into which the dynamo exporter already folded the BN).
   * null where no module can be recovered.
   */
  modules: (string | null)[];
  /**
   * True when fusing changes weights and removes nodes (BN/Add/Mul folded
   * into the Conv/Gemm/MatMul, a LoRA branch folded into its base). False for
   * grouping-only sequences (conv-relu, linear-relu, bn-relu): the activation
   * stays a node in portable ONNX; they matter for PyTorch's fuse_modules.
   */
  folds: boolean;
  /** Why it cannot be fused, or null. Blocked candidates are reported and never fused. */
  blocked: string | null;
  /** E.g. the shared-module warning (passing this group to fuse_modules breaks the model), as data; front ends word it (warnings.ts). */
  warnings: CandidateWarning[];
  /** Pattern-specific facts for display and for the PyTorch lists (e.g. rank and scale of a LoRA branch). */
  details?: CandidateDetails;
}

/**
 * What a pattern found out about its sequence, typed: each detector fills in
 * the fields of its family (below) and scan adds what the exporter did. Front
 * ends read them as they are; nothing re-parses them.
 */
export interface CandidateDetails extends LayerDetails, BatchNormDetails, ExporterFoldDetails, LoraBranchDetails {}

/** The layer a sequence starts with (conv-*, linear-*, conv-add/mul, matmul-add). */
export interface LayerDetails {
  /** Its operator: Conv, ConvTranspose, Gemm, MatMul. */
  kind?: string;
  hasBias?: boolean;
  /** Conv: 1, 2 or 3 spatial axes, null when the rank is unknown; `group`. */
  spatialDims?: number | null;
  group?: number;
  /** Gemm's attributes. */
  transA?: number;
  transB?: number;
  alpha?: number;
  beta?: number;
  /** matmul-add: its weight and bias initializers and output features. */
  weight?: string;
  bias?: string | null;
  outFeatures?: number | null;
  /** conv-add / conv-mul: the constant folded in, its shape (`1x8x1x1`) and the channel count. */
  constant?: string;
  constantShape?: string;
  channels?: number;
  /** The weight other nodes also read (the fold gives this node its own copy), else null. */
  sharedWeight?: string | null;
}

/** A BatchNormalization folded into the layer (conv-bn*, linear-bn, convtranspose-bn). */
export interface BatchNormDetails {
  epsilon?: number;
}

/** A Conv into which the exporter already folded a BatchNorm (graph/exporterFolds.ts). */
export interface ExporterFoldDetails {
  foldedByExporter?: boolean;
  /** Why the group cannot name its BatchNorm for fuse_modules (no checkpoint or Python definition names it). */
  unnamedBatchNorm?: string;
}

/** A LoRA branch still in the graph (lora-branch). */
export interface LoraBranchDetails {
  /** The rank, or ranks joined by '+' when stacked adapters differ (`4+8`); null when unknown. */
  rank?: number | string | null;
  /** alpha/r of each branch, joined by '+' when they differ. */
  scale?: number | string;
  adapters?: number;
  /** The base layer's operator. */
  base?: string;
  dora?: boolean;
  /** The adapted module's path (`layers.0.attn.q_proj`), null when it cannot be recovered. */
  module?: string | null;
}
