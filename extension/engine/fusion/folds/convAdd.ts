/** conv-add: a constant per-channel Add after a Conv becomes (part of) the Conv's bias. */
import { foldConstantIntoConv } from './convConstant';
import type { Fold } from './foldContext';

export const convAddFold: Fold = {
  patterns: ['conv-add'],
  apply: (ctx, candidate) => foldConstantIntoConv(ctx, candidate, 'Add'),
};
