/**
 * linear-bn: BatchNormalization over the features of a Linear layer's 2-D
 * output ([N, C], BatchNorm1d after nn.Linear), folded into
 * - a Gemm (transB 0 or 1, any alpha/beta, with or without C):
 *     alpha·A·op(B)·s + (beta·C·s + t)  →  op(B) columns scaled by s, C' = beta·C·s + t, beta := 1;
 * - a MatMul with an [in, out] weight, with or without a bias Add: replaced by
 *   Gemm(A, W·s, b·s + t), since a 2-D MatMul + bias is exactly a Gemm.
 * BN's channel axis is axis 1, which is the feature axis only for 2-D
 * outputs: for MatMul the input must be known to be 2-D.
 */
import { attrFloat, attrInt } from '../../graph/graphIndex';
import type { INodeProto } from '../../onnx/proto';
import type { Candidate } from '../candidate';
import { batchNormAffine, perChannelConstant, type ChannelAffine } from './channelAffine';
import { biasNameFor, refuse, type ConstantValue, type Fold, type FoldContext, type FoldResult } from './foldContext';
import { gemmNodeName, makeGemm, matmulWeight, otherOperand, requireMatrixInput, scaleLinearWeight, setFloatAttribute } from './linearWeights';

export const linearBnFold: Fold = {
  patterns: ['linear-bn'],
  apply(ctx, candidate) {
    const first = ctx.node(candidate.nodes[0] ?? '');
    return first.op_type === 'Gemm' ? foldIntoGemm(ctx, candidate) : foldIntoMatMul(ctx, candidate);
  },
};

function foldIntoGemm(ctx: FoldContext, candidate: Candidate): FoldResult {
  const [gemm, bn] = ctx.candidateNodes(candidate, [['Gemm'], ['BatchNormalization']]);
  const gemmOut = gemm.output?.[0] ?? '';
  if (bn.input?.[0] !== gemmOut) refuse(`'${bn.name}' does not read the output of '${gemm.name}'`);
  ctx.requireSoleReader(gemmOut, bn, 'output of Gemm');
  const transB = attrInt(gemm, 'transB', 0) !== 0;
  const beta = attrFloat(gemm, 'beta', 1);
  const weight = ctx.constant(gemm.input?.[1], `Gemm '${gemm.name}' B`);
  if (weight.dims.length !== 2) refuse(`Gemm '${gemm.name}' B has shape [${weight.dims.join(', ')}]; expected 2-D`);
  const features = transB ? weight.dims[0] : weight.dims[1];
  const bias = gemm.input?.[2] ? ctx.constant(gemm.input[2], `Gemm '${gemm.name}' C`) : null;
  if (bias && bias.dtype !== weight.dtype) refuse(`Gemm '${gemm.name}': C and B have different types`);
  const affine = batchNormAffine(ctx, bn, features);
  const scale = affine.scale!;

  // The new C is beta·C·s + t, read with beta = 1. With beta = 0 the Gemm ignores C (even inf/NaN in it): C' = t.
  const newBias = linearBias(beta !== 0 ? bias : null, features, affine, beta, `Gemm '${gemm.name}' C`);

  ctx.updateTensor(gemm, 1, 'weight', weight, (w) => scaleLinearWeight(w, weight.dims, transB ? 0 : 1, scale), `${weight.name}_fused`);
  ctx.writeTensor(gemm, 2, 'bias', weight.dtype, newBias.dims, newBias.values, biasNameFor(weight.name, candidate.modules[0]));
  if (beta !== 1) setFloatAttribute(gemm, 'beta', 1);
  const bnOut = bn.output![0];
  ctx.removeNode(bn);
  ctx.takeOverOutput(gemm, 0, bnOut);
  return ctx.takeJournal();
}

function foldIntoMatMul(ctx: FoldContext, candidate: Candidate): FoldResult {
  const withAdd = candidate.nodes.length === 3;
  const nodes = ctx.candidateNodes(candidate, withAdd ? [['MatMul'], ['Add'], ['BatchNormalization']] : [['MatMul'], ['BatchNormalization']]);
  const matmul = nodes[0];
  const add: INodeProto | undefined = withAdd ? nodes[1] : undefined;
  const bn = nodes[nodes.length - 1];
  const matmulOut = matmul.output?.[0] ?? '';
  const bnIn = add ? add.output?.[0] ?? '' : matmulOut;
  if (bn.input?.[0] !== bnIn) refuse(`'${bn.name}' does not read the output of '${(add ?? matmul).name}'`);
  const input = matmul.input?.[0] ?? '';
  requireMatrixInput(ctx, matmul);
  const weight = matmulWeight(ctx, matmul);
  const features = weight.dims[1];
  let bias: ConstantValue | null = null;
  if (add) {
    bias = ctx.constant(otherOperand(add, matmulOut), `bias of Add '${add.name}'`);
    if (bias.dtype !== weight.dtype) refuse(`Add '${add.name}': bias and weight have different types`);
    ctx.requireSoleReader(matmulOut, add, 'output of MatMul');
    ctx.requireSoleReader(bnIn, bn, 'output of Add');
  } else {
    ctx.requireSoleReader(matmulOut, bn, 'output of MatMul');
  }
  const affine = batchNormAffine(ctx, bn, features);
  const perFeatureBias = bias ? perChannelConstant(bias, 2, 1, features, `bias of Add '${add!.name}'`) : null;

  const newBias = new Float64Array(features);
  for (let n = 0; n < features; n++) newBias[n] = (perFeatureBias ? perFeatureBias[n] * affine.scale![n] : 0) + affine.shift![n];

  const gemm = makeGemm(gemmNodeName(ctx, matmul), input, weight.name, bias?.name ?? '', bn.output![0]);
  ctx.removeNode(matmul);
  if (add) ctx.removeNode(add);
  ctx.replaceNode(bn, gemm);
  ctx.updateTensor(gemm, 1, 'weight', weight, (w) => scaleLinearWeight(w, weight.dims, 1, affine.scale!), `${weight.name}_fused`);
  ctx.writeTensor(gemm, 2, 'bias', weight.dtype, [features], newBias, biasNameFor(weight.name, candidate.modules[0]));
  return ctx.takeJournal();
}

/**
 * The Gemm C after folding: factor·C·s + t per feature (factor = the Gemm's beta), keeping C's rows
 * (C may be [N], [1, N], [M, N], [M, 1], a scalar: anything Gemm broadcasts
 * to [M, N]); a C constant along the features is widened to one per feature.
 */
function linearBias(c: ConstantValue | null, features: number, affine: ChannelAffine, factor: number, what: string): { dims: number[]; values: Float64Array } {
  const scale = affine.scale!;
  const shift = affine.shift!;
  if (!c) return { dims: [features], values: Float64Array.from(shift) };
  if (c.dims.length > 2) refuse(`${what} '${c.name}' has shape [${c.dims.join(', ')}]; Gemm's C is at most 2-D`);
  const cols = c.dims.length === 0 ? 1 : c.dims[c.dims.length - 1];
  const rows = c.dims.length === 2 ? c.dims[0] : 1;
  if (cols !== 1 && cols !== features) refuse(`${what} '${c.name}' has ${cols} columns for ${features} features`);
  const old = c.values();
  const values = new Float64Array(rows * features);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < features; n++) {
      values[r * features + n] = old[r * cols + (cols === 1 ? 0 : n)] * factor * scale[n] + shift[n];
    }
  }
  return { dims: c.dims.length === 2 ? [rows, features] : [features], values };
}
