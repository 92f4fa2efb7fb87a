/**
 * convtranspose-bn: BatchNormalization folded into a ConvTranspose, with the
 * transposed weight layout [Cin, Cout/groups, k…] handled for any number of
 * groups (see convWeights.ts: PyTorch's own helper gets groups > 1 wrong).
 */
import { foldBatchNormIntoConv } from './convBn';
import type { Fold } from './foldContext';

export const convTransposeBnFold: Fold = {
  patterns: ['convtranspose-bn'],
  apply: (ctx, candidate) => foldBatchNormIntoConv(ctx, candidate, 'ConvTranspose'),
};
