/** conv-mul: a constant per-channel Mul after a Conv scales the Conv's weight and bias. */
import { foldConstantIntoConv } from './convConstant';
import type { Fold } from './foldContext';

export const convMulFold: Fold = {
  patterns: ['conv-mul'],
  apply: (ctx, candidate) => foldConstantIntoConv(ctx, candidate, 'Mul'),
};
