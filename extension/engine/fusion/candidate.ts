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
  /** Pattern-specific details for folds and for display (e.g. rank and scale of a LoRA branch). */
  details?: Record<string, string | number | boolean | null>;
}
