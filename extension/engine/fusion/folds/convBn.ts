/**
 * conv-bn and conv-bn-relu: BatchNormalization folded into the Conv before it
 * (1-D/2-D/3-D, grouped, depthwise, with or without bias). The Conv takes
 * over the BN's output name, so every reader of it — the ReLU of conv-bn-relu,
 * which stays a node, or a graph output — reads the fused result unchanged.
 */
import type { Candidate } from '../candidate';
import { batchNormAffine } from './channelAffine';
import { convLayout, foldAffineIntoConv } from './convWeights';
import type { Fold, FoldContext, FoldResult } from './foldContext';
import { refuse } from './foldContext';

/** The activation of conv-bn-relu (PyTorch's fuser knows only ReLU there). */
const ACTIVATIONS = ['Relu'];

export function foldBatchNormIntoConv(ctx: FoldContext, candidate: Candidate, convOp: 'Conv' | 'ConvTranspose'): FoldResult {
  const withActivation = candidate.nodes.length === 3;
  const expected = withActivation ? [[convOp], ['BatchNormalization'], ACTIVATIONS] : [[convOp], ['BatchNormalization']];
  const [conv, bn, activation] = ctx.candidateNodes(candidate, expected);
  const convOut = conv.output?.[0] ?? '';
  if (bn.input?.[0] !== convOut) refuse(`'${bn.name}' does not read the output of '${conv.name}'`);
  if (activation && activation.input?.[0] !== bn.output?.[0]) refuse(`'${activation.name}' does not read the output of '${bn.name}'`);
  ctx.requireSoleReader(convOut, bn, `output of ${convOp}`);
  const layout = convLayout(ctx, conv);
  const affine = batchNormAffine(ctx, bn, layout.outChannels);

  foldAffineIntoConv(ctx, conv, layout, affine, candidate.modules[0] ?? null);
  const bnOut = bn.output![0];
  ctx.removeNode(bn);
  ctx.takeOverOutput(conv, 0, bnOut);
  return ctx.takeJournal();
}

export const convBnFold: Fold = {
  patterns: ['conv-bn', 'conv-bn-relu'],
  apply: (ctx, candidate) => foldBatchNormIntoConv(ctx, candidate, 'Conv'),
};
