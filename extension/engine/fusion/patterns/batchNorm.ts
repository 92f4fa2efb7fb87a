/**
 * Checks every pattern with a BatchNormalization shares: only an inference
 * BN (running statistics, one output) with constant parameters of the right
 * size can be folded into the layer before it or grouped for fuse_modules.
 */
import { attr, attrFloat, attrInt } from '../../graph/graphIndex';
import { firstProblem, nodeLabel, parameterProblem, constantDims, type Node, type ScanContext } from '../scanContext';

const BN_PARAMS = ['scale', 'bias', 'running mean', 'running variance'];

/** Why this BN is not an inference-mode, per-channel affine map (null when it is). */
export function batchNormModeProblem(ctx: ScanContext, bn: Node): string | null {
  if (attrInt(bn, 'training_mode', 0) !== 0) return `BatchNormalization ${nodeLabel(bn)} is in training mode (training_mode=1)`;
  const extra = (bn.output ?? []).slice(1).filter((o) => o && ctx.index.useCount(o) > 0);
  if (extra.length) return `BatchNormalization ${nodeLabel(bn)} is in training mode (its batch statistics output '${extra[0]}' is used)`;
  // Opset ≤ 6 marked inference with is_test=1; its default (0) is training mode. The fold refuses it, so scan must too.
  if (attr(bn, 'is_test') && attrInt(bn, 'is_test', 0) === 0) return `BatchNormalization ${nodeLabel(bn)} is in training mode (is_test=0)`;
  if (ctx.model.opset() < 9 && attrInt(bn, 'spatial', 1) === 0) return `BatchNormalization ${nodeLabel(bn)} has spatial=0 (per-position statistics), which cannot be folded`;
  if ((bn.input ?? []).length < 5) return `BatchNormalization ${nodeLabel(bn)} has ${(bn.input ?? []).length} inputs, expected 5`;
  return null;
}

/** Mode, constant parameters, and parameter length equal to `channels` (when known). */
export function batchNormFoldProblem(ctx: ScanContext, bn: Node, channels: number | undefined): string | null {
  const inputs = bn.input ?? [];
  const mode = batchNormModeProblem(ctx, bn);
  if (mode) return mode;
  const params = firstProblem(...BN_PARAMS.map((role, i) => parameterProblem(ctx, inputs[i + 1] ?? '', `BatchNormalization ${role}`)));
  if (params) return params;
  for (let i = 1; i <= 4; i++) {
    const dims = constantDims(ctx, inputs[i]);
    const n = dims ? dims.reduce((a, b) => a * b, 1) : undefined;
    if (dims && dims.length !== 1) return `BatchNormalization ${BN_PARAMS[i - 1]} '${inputs[i]}' has shape [${dims.join(', ')}], expected one value per channel`;
    if (channels !== undefined && n !== channels) {
      return `BatchNormalization ${nodeLabel(bn)} has ${n} channels but the layer before it produces ${channels}`;
    }
  }
  return null;
}

export function batchNormDetails(bn: Node): Record<string, number> {
  return { epsilon: attrFloat(bn, 'epsilon', 1e-5) };
}
