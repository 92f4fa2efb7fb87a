/**
 * The registry of exact folds. `fuse` looks up the fold for a candidate's
 * pattern here; adding a fold is one file plus one line in FOLDS.
 * Patterns without a fold (conv-relu, linear-relu, bn-relu) are grouping-only:
 * in portable ONNX the activation stays a node, so there is nothing to fold.
 */
import type { PatternName } from '../candidate';
import type { Fold } from './foldContext';
import { convBnFold } from './convBn';
import { convTransposeBnFold } from './convTransposeBn';
import { linearBnFold } from './linearBn';
import { convAddFold } from './convAdd';
import { convMulFold } from './convMul';
import { matmulAddFold } from './matmulAdd';
import { loraBranchFold } from './loraBranch';

export const FOLDS: readonly Fold[] = [
  convBnFold,
  convTransposeBnFold,
  linearBnFold,
  convAddFold,
  convMulFold,
  matmulAddFold,
  loraBranchFold,
];

export function foldFor(pattern: PatternName): Fold | undefined {
  return FOLDS.find((f) => f.patterns.includes(pattern));
}

/** Patterns some registered fold applies. */
export function foldablePatterns(): PatternName[] {
  return FOLDS.flatMap((f) => [...f.patterns]);
}

export type { Fold, FoldResult, ChangedTensor, TensorInfo, TensorStorage } from './foldContext';
export { FoldContext, FoldRefusal, refuse } from './foldContext';
