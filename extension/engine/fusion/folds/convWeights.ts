/**
 * Folds a per-output-channel affine map into a Conv or ConvTranspose:
 * W'[o] = W[o]·scale[o], b'[o] = b[o]·scale[o] + shift[o], in float64,
 * rounded once to the weight's type.
 *
 * Where output channel o lives in the weight:
 * - Conv: W is [Cout, Cin/groups, k…]; channel o is W[o] (axis 0), for any
 *   number of groups (depthwise included) and any number of spatial dims.
 * - ConvTranspose: W is [Cin, Cout/groups, k…]; output channel
 *   o = g·(Cout/groups) + j is computed from W[g·(Cin/groups) + i, j, …] for
 *   every input i of group g. Scaling column j alone (what PyTorch's
 *   fuse_conv_bn_weights does) is right only when groups = 1.
 */
import { attrInt } from '../../graph/graphIndex';
import type { INodeProto } from '../../onnx/proto';
import { biasNameFor, refuse, type FoldContext } from './foldContext';
import type { ChannelAffine } from './channelAffine';
import type { FloatCells } from './floatCells';

export interface ConvLayout {
  weight: ReturnType<FoldContext['constant']>;
  bias: ReturnType<FoldContext['constant']> | null;
  groups: number;
  outChannels: number;
  /** Rank of the Conv output (= rank of the weight). */
  outputRank: number;
}

/** Reads and checks a Conv/ConvTranspose's weight and bias; refuses what cannot be folded. */
export function convLayout(ctx: FoldContext, conv: INodeProto): ConvLayout {
  const label = `${conv.op_type} '${conv.name || conv.output?.[0]}'`;
  const weight = ctx.constant(conv.input?.[1], `${label} weight`);
  const groups = attrInt(conv, 'group', 1);
  const dims = weight.dims;
  if (dims.length < 3) refuse(`${label} weight has shape [${dims.join(', ')}]; expected [out, in/groups, kernel…]`);
  if (groups < 1) refuse(`${label} has group=${groups}`);
  let outChannels: number;
  if (conv.op_type === 'ConvTranspose') {
    if (dims[0] % groups !== 0) refuse(`${label}: ${dims[0]} input channels are not divisible by group=${groups}`);
    outChannels = dims[1] * groups;
  } else {
    if (dims[0] % groups !== 0) refuse(`${label}: ${dims[0]} output channels are not divisible by group=${groups}`);
    outChannels = dims[0];
  }
  const biasName = conv.input?.[2];
  const bias = biasName ? ctx.constant(biasName, `${label} bias`) : null;
  if (bias) {
    const n = bias.dims.reduce((a, b) => a * b, 1);
    if (n !== outChannels || bias.dims.length !== 1) refuse(`${label} bias has shape [${bias.dims.join(', ')}], expected [${outChannels}]`);
    if (bias.dtype !== weight.dtype) refuse(`${label}: bias and weight have different types`);
  }
  return { weight, bias, groups, outChannels, outputRank: dims.length };
}

/** Applies the map to the Conv's tensors (after every check has passed). */
export function foldAffineIntoConv(ctx: FoldContext, conv: INodeProto, layout: ConvLayout, affine: ChannelAffine, module: string | null): void {
  const { weight, bias, outChannels } = layout;
  if (affine.scale && affine.scale.length !== outChannels) throw new Error('internal: scale length');
  if (affine.shift && affine.shift.length !== outChannels) throw new Error('internal: shift length');

  // Nothing below can refuse: every check happened in convLayout and in the caller, so the graph is never left half-edited.
  let newBias: Float64Array | null = null;
  if (bias || affine.shift) {
    newBias = bias ? bias.values() : new Float64Array(outChannels);
    for (let o = 0; o < outChannels; o++) {
      newBias[o] = newBias[o] * (affine.scale ? affine.scale[o] : 1) + (affine.shift ? affine.shift[o] : 0);
    }
  }
  const scale = affine.scale;
  if (scale) {
    ctx.updateTensor(conv, 1, 'weight', weight, (w) => {
      if (conv.op_type === 'ConvTranspose') scaleConvTransposeWeight(w, weight.dims, layout.groups, scale);
      else scaleConvWeight(w, outChannels, scale);
    }, `${weight.name}_fused`);
  }
  if (newBias) ctx.writeTensor(conv, 2, 'bias', weight.dtype, [outChannels], newBias, biasNameFor(weight.name, module));
}

/** Conv weight [Cout, …]: every element of output channel o is multiplied by scale[o]. */
export function scaleConvWeight(w: FloatCells, outChannels: number, scale: Float64Array): void {
  if (w.length > 0) w.scaleRuns(w.length / outChannels, scale);
}

/** ConvTranspose weight [Cin, Cout/groups, k…]: W[r, j, …] belongs to output channel (r div Cin/groups)·(Cout/groups) + j. */
export function scaleConvTransposeWeight(w: FloatCells, dims: readonly number[], groups: number, scale: Float64Array): void {
  const inChannels = dims[0];
  const outPerGroup = dims[1];
  const inPerGroup = inChannels / groups;
  if (w.length === 0) return;
  const kernel = w.length / (inChannels * outPerGroup);
  // One factor per (r, j) kernel: the runs of the weight in storage order.
  const factors = new Float64Array(inChannels * outPerGroup);
  for (let r = 0; r < inChannels; r++) {
    const group = Math.floor(r / inPerGroup);
    for (let j = 0; j < outPerGroup; j++) factors[r * outPerGroup + j] = scale[group * outPerGroup + j];
  }
  w.scaleRuns(kernel, factors);
}
