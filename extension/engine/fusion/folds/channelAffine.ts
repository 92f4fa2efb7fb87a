/**
 * Every fold here is "a per-output-channel affine map after a linear op":
 *   BatchNormalization  y = γ·(x−μ)/√(σ²+ε) + β  →  scale γ/√(σ²+ε), shift β − μ·scale
 *   Mul by a constant    y = x·c                  →  scale c, no shift
 *   Add of a constant    y = x + c                →  no scale, shift c
 * and folding it into the op is W'[o] = W[o]·scale[o], b'[o] = b[o]·scale[o] + shift[o].
 * This file turns BN nodes and broadcast constants into that map, in float64.
 */
import { attr, attrFloat, attrInt } from '../../graph/graphIndex';
import type { INodeProto } from '../../onnx/proto';
import { refuse, type ConstantValue, type FoldContext } from './foldContext';

export interface ChannelAffine {
  /** Per-channel factor, or null for "multiply by 1" (the weight is then left untouched). */
  scale: Float64Array | null;
  /** Per-channel offset, or null for "add 0" (no bias is created for it). */
  shift: Float64Array | null;
}

/** BatchNormalization in inference form as a per-channel affine map over `channels` channels. */
export function batchNormAffine(ctx: FoldContext, bn: INodeProto, channels: number): ChannelAffine {
  const label = `BatchNormalization '${bn.name || bn.output?.[0]}'`;
  if ((bn.output ?? []).slice(1).some((o) => o)) refuse(`${label} also outputs running statistics: it runs in training mode`);
  if (attrInt(bn, 'training_mode', 0) !== 0) refuse(`${label} has training_mode=1: it normalizes with batch statistics, which no weight can reproduce`);
  if (attr(bn, 'is_test') && attrInt(bn, 'is_test', 0) === 0) refuse(`${label} has is_test=0 (training mode)`);
  if (attr(bn, 'spatial') && attrInt(bn, 'spatial', 1) === 0) refuse(`${label} has spatial=0: its statistics are per activation, not per channel`);
  const epsilon = attrFloat(bn, 'epsilon', 1e-5);
  const roles = ['scale', 'bias', 'mean', 'variance'] as const;
  const params = roles.map((role, i) => {
    const c = ctx.constant(bn.input?.[i + 1], `${label} ${role}`);
    if (count(c) !== channels) refuse(`${label} ${role} '${c.name}' has ${count(c)} values for ${channels} channels`);
    return c.values();
  });
  const [gamma, beta, mean, variance] = params;
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let o = 0; o < channels; o++) {
    const denominator = Math.sqrt(variance[o] + epsilon);
    if (!(denominator > 0) || !Number.isFinite(denominator)) {
      refuse(`${label}: variance + epsilon is ${variance[o] + epsilon} at channel ${o}; the normalization is not finite`);
    }
    scale[o] = gamma[o] / denominator;
    shift[o] = beta[o] - mean[o] * scale[o];
  }
  requireFinite(scale, label);
  requireFinite(shift, label);
  return { scale, shift };
}

/**
 * A constant that broadcasts against an output of `rank` dimensions only
 * along the channel axis (`channelAxis`), e.g. [C,1,1], [1,C,1,1], [1], a
 * scalar — as one value per channel. Refuses shapes that vary along any other
 * axis or that would grow the output by broadcasting.
 */
export function perChannelConstant(c: ConstantValue, rank: number, channelAxis: number, channels: number, what: string): Float64Array {
  const perChannel = checkPerChannelShape(c, rank, channelAxis, channels, what);
  const values = c.values();
  const out = new Float64Array(channels);
  for (let o = 0; o < channels; o++) out[o] = values[perChannel ? o : 0];
  requireFinite(out, `${what} '${c.name}'`);
  return out;
}

/** The shape check of perChannelConstant alone; true when the constant has one value per channel, false for a single value. */
export function checkPerChannelShape(c: ConstantValue, rank: number, channelAxis: number, channels: number, what: string): boolean {
  const describe = `${what} '${c.name}' of shape [${c.dims.join(', ')}]`;
  if (c.dims.length > rank) refuse(`${describe} has more dimensions than the output (rank ${rank}); broadcasting would change the output shape`);
  const offset = rank - c.dims.length;
  let perChannel = false;
  c.dims.forEach((d, i) => {
    const axis = i + offset;
    if (d === 1) return;
    if (axis === channelAxis && d === channels) {
      perChannel = true;
      return;
    }
    refuse(`${describe} varies along axis ${axis}, not only along the ${channels} output channels (axis ${channelAxis})`);
  });
  return perChannel;
}

function count(c: ConstantValue): number {
  return c.dims.reduce((a, b) => a * b, 1);
}

function requireFinite(a: Float64Array, label: string): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) refuse(`${label}: value ${a[i]} at channel ${i} is not finite`);
}
