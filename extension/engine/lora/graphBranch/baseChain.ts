/**
 * What exporters put around the base layer of a LoRA branch, besides the
 * layer itself:
 *
 * - GPT-2's `Conv1D` (and any `addmm` layer): `x.view(-1, in)` → Gemm →
 *   `.view(*lead, out)`. The branch reads the un-flattened `x` and is added
 *   after the second Reshape; both Reshapes only regroup the leading dims, so
 *   the base is still one linear map on the feature axis.
 * - A float16/bfloat16 base with float32 adapters (PEFT's default
 *   `autocast_adapter_dtype`): the base output is cast up, the float32 branch
 *   added, and the sum cast back down. After the fold the branch is in the
 *   base weight, rounded once in the base dtype, so the two Casts go too.
 */
import type { onnx } from '../../onnx/proto';
import { DataType } from '../../onnx/proto';
import { dtypeName } from '../../onnx/dtypes';
import { attrInt } from '../../graph/graphIndex';
import type { LoraContext } from './match';

/** Mantissa bits of the float types a branch may compute in. */
const PRECISION: Record<number, number> = {
  [DataType.BFLOAT16]: 8, [DataType.FLOAT16]: 11, [DataType.FLOAT]: 24, [DataType.DOUBLE]: 53,
};

/**
 * Why a Cast inside a branch changes the result beyond the fold's one
 * rounding, or null when it does not: the same type as the base, or a wider
 * float (computing the branch more exactly than the base stores it is what
 * the fold does anyway). A narrower or non-float type rounds the branch on
 * its own, which the merged weight cannot reproduce.
 */
export function castProblem(cast: onnx.INodeProto, baseDtype: number): string | null {
  const to = attrInt(cast, 'to', 0);
  if (to === baseDtype) return null;
  const wider = PRECISION[to] !== undefined && PRECISION[baseDtype] !== undefined && PRECISION[to] > PRECISION[baseDtype];
  return wider ? null : `Cast '${cast.name}' to ${dtypeName(to)} inside the branch changes the precision (the base computes in ${dtypeName(baseDtype)})`;
}

/** The node reading `value`, when it is the only reader and `value` is no graph output. */
function soleConsumer(ctx: LoraContext, value: string): onnx.INodeProto | undefined {
  const { index } = ctx;
  const readers = index.consumersOf(value);
  if (readers.length !== 1 || index.graphOutputs.has(value) || index.usedBySubgraphs.has(value)) return undefined;
  const n = readers[0].node;
  return (n.domain ?? '') === '' && readers[0].slot === 0 ? n : undefined;
}

const prod = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);
const same = (a: readonly number[] | undefined, b: readonly number[] | undefined): boolean =>
  !!a && !!b && a.length === b.length && a.every((v, i) => v === b[i]);

/** A node of the base chain, with why it cannot be proven to do what the fold assumes (null when proven). */
export interface ChainNode {
  node: onnx.INodeProto;
  problem: string | null;
}

/**
 * `Reshape`/`Flatten` before a Gemm that flattens the leading dims of its
 * input and keeps the feature axis (`x.view(-1, x.size(-1))`): its input is
 * what the branches read. Proven from static shapes; without them the node
 * is still returned (the branch is reported) with the reason it cannot fold.
 */
export function inputFlatten(ctx: LoraContext, baseNode: onnx.INodeProto): ChainNode | undefined {
  const x = baseNode.input?.[0] ?? '';
  const p = ctx.index.producer.get(x);
  if (!p || (p.domain ?? '') !== '' || (p.op_type !== 'Reshape' && p.op_type !== 'Flatten')) return undefined;
  const input = p.input?.[0] ?? '';
  const before = ctx.shapes.shapeOf(input);
  const after = ctx.shapes.shapeOf(x);
  const unproven = `${p.op_type} '${p.name}' only flattens its leading dims`;
  if (!before) return { node: p, problem: `the shape of '${input}' is not static, so ModelFuse cannot prove that ${unproven}` };
  if (!after) return { node: p, problem: `the shape of '${x}' is not static, so ModelFuse cannot prove that ${unproven}` };
  const flattens = after.length === 2 && before.length >= 2 && after[1] === before[before.length - 1] && after[0] === prod(before.slice(0, -1));
  return { node: p, problem: flattens ? null : `${p.op_type} '${p.name}' reshapes [${before.join(', ')}] to [${after.join(', ')}], not only its leading dims` };
}

/**
 * The Reshape after the base (or its bias Add) that restores the leading dims
 * `inputFlatten` removed: `[N, out]` → `[*lead, out]`. Undefined when
 * `value` has another reader; with a problem when the shapes do not prove it.
 */
export function outputUnflatten(ctx: LoraContext, value: string, flatten: onnx.INodeProto): ChainNode | undefined {
  const r = soleConsumer(ctx, value);
  if (!r || r.op_type !== 'Reshape') return undefined;
  const lead = ctx.shapes.shapeOf(flatten.input?.[0] ?? '')?.slice(0, -1);
  const flat = ctx.shapes.shapeOf(value);
  const restored = ctx.shapes.shapeOf(r.output?.[0] ?? '');
  const ok = !!lead && !!flat && flat.length === 2 && same(restored, [...lead, flat[1]]);
  return { node: r, problem: ok ? null : `cannot prove that Reshape '${r.name}' restores the leading dims that ${flatten.op_type} '${flatten.name}' flattened` };
}

/** A Cast of the base output to a wider float type (the float32 adapters' sum), the only reader of `value`. */
export function castUp(ctx: LoraContext, value: string, baseDtype: number): onnx.INodeProto | undefined {
  const c = soleConsumer(ctx, value);
  if (!c || c.op_type !== 'Cast') return undefined;
  const to = attrInt(c, 'to', 0);
  return to !== baseDtype && castProblem(c, baseDtype) === null ? c : undefined;
}

/** The Cast back to the base dtype that alone reads the sum, closing a `castUp`. */
export function castDown(ctx: LoraContext, sum: string, baseDtype: number): onnx.INodeProto | undefined {
  const c = soleConsumer(ctx, sum);
  return c && c.op_type === 'Cast' && attrInt(c, 'to', 0) === baseDtype ? c : undefined;
}
