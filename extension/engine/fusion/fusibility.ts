/**
 * Whether ONNX fuse can apply a candidate, and if not why, in one place for
 * `fuse`, the CLI and every view (the protocol re-exports it). Grouping-only
 * sequences are groups for PyTorch's fuse_modules; what is left to fold in
 * ONNX depends on why they fold nothing: the activation stays a node, or the
 * exporter already folded the BatchNorm.
 */
import type { Candidate } from './candidate';

export interface Fusibility {
  /** fuse can fold it: not blocked and it changes weights. */
  fusible: boolean;
  /** Why not, in words for a message or a tooltip; null when fusible. */
  reason: string | null;
}

export function fusibility(c: Pick<Candidate, 'pattern' | 'blocked' | 'folds' | 'details'>): Fusibility {
  if (c.blocked) return { fusible: false, reason: c.blocked };
  if (c.folds) return { fusible: true, reason: null };
  if (c.details?.foldedByExporter) {
    const pytorch = c.details.unnamedBatchNorm !== undefined ? ` For PyTorch: ${c.details.unnamedBatchNorm}` : '';
    return { fusible: false, reason: `the exporter already folded the BatchNorm into the Conv; nothing is left to fold in ONNX.${pytorch}` };
  }
  return {
    fusible: false,
    reason: `${c.pattern} is a grouping for PyTorch's fuse_modules; in ONNX the activation stays a separate node (runtimes fuse it when they run), so there is nothing to fold`,
  };
}
