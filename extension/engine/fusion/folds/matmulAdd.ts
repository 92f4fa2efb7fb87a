/**
 * matmul-add: MatMul(A, W) + b → Gemm(A, W, b). Exact (a Gemm with alpha =
 * beta = 1 computes A·W + C) and no tensor changes, but Gemm exists only for
 * 2-D A, so A must be known to be 2-D (a 3-D [batch, seq, features] input —
 * the usual transformer case — stays MatMul + Add), and the bias must
 * broadcast to [M, N] the way Gemm's C does: one value per output feature.
 */
import { checkPerChannelShape } from './channelAffine';
import { refuse, type Fold } from './foldContext';
import { gemmNodeName, makeGemm, matmulWeight, otherOperand, requireMatrixInput } from './linearWeights';

export const matmulAddFold: Fold = {
  patterns: ['matmul-add'],
  apply(ctx, candidate) {
    const [matmul, add] = ctx.candidateNodes(candidate, [['MatMul'], ['Add']]);
    const matmulOut = matmul.output?.[0] ?? '';
    const input = matmul.input?.[0] ?? '';
    const biasName = otherOperand(add, matmulOut);
    ctx.requireSoleReader(matmulOut, add, 'output of MatMul');
    requireMatrixInput(ctx, matmul);
    const weight = matmulWeight(ctx, matmul);
    const bias = ctx.constant(biasName, `bias of Add '${add.name}'`);
    if (bias.dtype !== weight.dtype) refuse(`Add '${add.name}': bias and weight have different types`);
    // Gemm broadcasts C one way only, so C must be one value per output feature (or one value): no extra rows.
    checkPerChannelShape(bias, 2, 1, weight.dims[1], `bias of Add '${add.name}'`);

    const gemm = makeGemm(gemmNodeName(ctx, matmul), input, weight.name, biasName, add.output![0]);
    ctx.removeNode(matmul);
    ctx.replaceNode(add, gemm);
    return ctx.takeJournal();
  },
};
