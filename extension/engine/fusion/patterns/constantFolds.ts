/**
 * Exact ONNX-level folds of a constant into the layer before it:
 * - conv-add: Conv or ConvTranspose → Add of a constant per-channel bias
 *   ([C,1,…], [1,C,1,…] or one value) becomes the layer's bias (tf2onnx writes
 *   a Conv2DTranspose's BiasAdd as its own Add);
 * - conv-mul: Conv or ConvTranspose → Mul by a constant per-channel scale
 *   scales the layer's weight and bias;
 * - matmul-add: MatMul by a constant [K,N] weight → Add of a constant [N] bias
 *   becomes one Gemm, only for a 2-D input (Gemm is 2-D only).
 * An Add/Mul whose other operand is computed (a residual connection) is not a
 * candidate at all; a constant that varies along the spatial axes is not
 * per-channel and is skipped too.
 */
import {
  constantDims, convOutChannels, convSpatialDims, firstProblem, intermediateProblem, isOp, linearAt, nodeLabel,
  parameterProblem, sharedWith, weightTensor, type Node, type PatternDetector, type PatternMatch, type ScanContext,
} from '../scanContext';
import { sharedWeightWarning } from '../warnings';

export const constantFoldDetector: PatternDetector = {
  name: 'constant-fold',
  patterns: ['conv-add', 'conv-mul', 'matmul-add'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const node of ctx.index.graph.node ?? []) {
      if (!isOp(node, 'Add', 'Mul') || !ctx.isAddressable(node)) continue;
      const conv = convAffine(ctx, node);
      if (conv) out.push(conv);
      else if (node.op_type === 'Add') {
        const mm = matmulAdd(ctx, node);
        if (mm) out.push(mm);
      }
    }
    return out;
  },
};

/** The input of `node` produced by an op of `type`, and the other input. */
function split(ctx: ScanContext, node: Node, ...types: string[]): { producer: Node; value: string; other: string } | undefined {
  const [a, b] = node.input ?? [];
  if (!a || !b || (node.input ?? []).length !== 2) return undefined;
  for (const [value, other] of [[a, b], [b, a]]) {
    const p = ctx.index.producer.get(value);
    if (isOp(p, ...types) && ctx.isAddressable(p) && p.output?.[0] === value) return { producer: p, value, other };
  }
  return undefined;
}

function convAffine(ctx: ScanContext, node: Node): PatternMatch | undefined {
  const s = split(ctx, node, 'Conv', 'ConvTranspose');
  if (!s || !weightTensor(ctx, s.other)) return undefined;
  const { producer: conv, value, other } = s;
  const channels = convOutChannels(ctx, conv);
  const spatial = convSpatialDims(ctx, conv);
  const dims = constantDims(ctx, other);
  if (channels === undefined || spatial === undefined || !dims || !isPerChannel(dims, channels, spatial + 2)) return undefined;
  const weight = conv.input?.[1] ?? '';
  const bias = conv.input?.[2] ?? '';
  const isMul = node.op_type === 'Mul';
  // An Add only touches the bias; a Mul rewrites the weight too, so only then does sharing the weight matter.
  const shared = isMul ? sharedWith(ctx, weight, conv) : [];
  return {
    pattern: isMul ? 'conv-mul' : 'conv-add',
    nodes: [conv, node],
    folds: true,
    blocked: firstProblem(
      intermediateProblem(ctx, conv, value, node),
      parameterProblem(ctx, other, isMul ? 'scale' : 'bias'),
      isMul ? parameterProblem(ctx, weight, 'Conv weight') : null,
      bias ? parameterProblem(ctx, bias, 'Conv bias') : null,
    ),
    warnings: shared.length ? [sharedWeightWarning(weight, shared)] : [],
    details: { kind: conv.op_type ?? 'Conv', constant: other, constantShape: dims.join('x'), channels, hasBias: !!bias, sharedWeight: shared.length ? weight : null },
  };
}

/** Broadcasts to one value per channel of an [N, C, spatial…] tensor without growing its rank. */
export function isPerChannel(dims: number[], channels: number, rank: number): boolean {
  if (dims.length > rank) return false;
  const aligned = [...Array(rank - dims.length).fill(1), ...dims];
  return aligned.every((d, i) => (i === 1 ? d === channels || d === 1 : d === 1));
}

function matmulAdd(ctx: ScanContext, add: Node): PatternMatch | undefined {
  const s = split(ctx, add, 'MatMul');
  if (!s) return undefined;
  const lin = linearAt(ctx, s.producer);
  if (!lin || lin.nodes.length !== 2 || lin.nodes[1] !== add) return undefined;
  const mm = s.producer;
  const inRank = ctx.ranks.rankOf(mm.input?.[0] ?? '');
  if (inRank !== undefined && inRank !== 2) return undefined; // batched MatMul: Gemm cannot express it, nothing to offer
  const shared = sharedWith(ctx, lin.weight, mm);
  return {
    pattern: 'matmul-add',
    nodes: [mm, add],
    folds: true,
    blocked: firstProblem(
      intermediateProblem(ctx, mm, s.value, add),
      parameterProblem(ctx, lin.weight, 'MatMul weight'),
      parameterProblem(ctx, lin.bias ?? '', 'bias'),
      inRank === undefined ? `cannot tell whether the input of ${nodeLabel(mm)} is 2-D (no shape information); Gemm needs a 2-D input` : null,
    ),
    warnings: [],
    details: { kind: 'MatMul', weight: lin.weight, bias: lin.bias, outFeatures: lin.outFeatures ?? null, sharedWeight: shared.length ? lin.weight : null },
  };
}
