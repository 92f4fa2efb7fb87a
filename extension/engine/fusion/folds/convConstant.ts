/**
 * conv-add and conv-mul: a constant added to / multiplied with a Conv's
 * output, folded into the Conv's bias / weight and bias. Exact only when the
 * constant is one value per output channel (shape [C,1,1], [1,C,1,1], [1],
 * a scalar, …): anything varying along another axis, or broadcasting to a
 * bigger shape, is refused.
 */
import type { Candidate } from '../candidate';
import { perChannelConstant, type ChannelAffine } from './channelAffine';
import { convLayout, foldAffineIntoConv } from './convWeights';
import { refuse, type FoldContext, type FoldResult } from './foldContext';

export function foldConstantIntoConv(ctx: FoldContext, candidate: Candidate, op: 'Add' | 'Mul'): FoldResult {
  const [conv, arith] = ctx.candidateNodes(candidate, [['Conv', 'ConvTranspose'], [op]]);
  const convOut = conv.output?.[0] ?? '';
  const inputs = arith.input ?? [];
  if (inputs.length !== 2) refuse(`'${arith.name}' does not have two inputs`);
  const slot = inputs[0] === convOut ? 0 : inputs[1] === convOut ? 1 : -1;
  if (slot < 0) refuse(`'${arith.name}' does not read the output of '${conv.name}'`);
  ctx.requireSoleReader(convOut, arith, `output of ${conv.op_type}`);
  const layout = convLayout(ctx, conv);
  const constant = ctx.constant(inputs[1 - slot], `${op} operand`);
  if (constant.dtype !== layout.weight.dtype) refuse(`${op} operand '${constant.name}' has a different type than the ${conv.op_type} weight`);
  const perChannel = perChannelConstant(constant, layout.outputRank, 1, layout.outChannels, `${op} operand`);
  const affine: ChannelAffine = op === 'Add' ? { scale: null, shift: perChannel } : { scale: perChannel, shift: null };

  foldAffineIntoConv(ctx, conv, layout, affine, candidate.modules[0] ?? null);
  const out = arith.output![0];
  ctx.removeNode(arith);
  ctx.takeOverOutput(conv, 0, out);
  return ctx.takeJournal();
}
