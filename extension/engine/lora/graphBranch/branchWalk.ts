/**
 * Walks one low-rank path of a LoRA branch backwards, from the value added to
 * the base output down to the input `x` it shares with the base layer, the
 * way exporters emit it:
 *
 *   x → [Identity/Dropout, no-op Cast, Reshape/Transpose pairs] → MatMul|Gemm|Conv|Gather (A)
 *     → … → MatMul|Gemm|Conv (B) → … → Mul/Div by a constant (the scale) → …
 *
 * The walk recognises the structure; it records problems (a weight that is
 * not constant, a Cast that changes precision, a pair it cannot prove to
 * cancel) instead of giving up, so that `scan` can report a LoRA branch that
 * cannot be folded together with the reason. It returns undefined only when
 * the path is not a low-rank branch at all.
 */
import type { onnx } from '../../onnx/proto';
import { attrFloat, attrInt, attrInts, type GraphIndex } from '../../graph/graphIndex';
import type { ConstEvaluator } from './constEval';
import type { StaticShapes } from './staticShapes';
import { castProblem } from './baseChain';

export type BaseKind = 'MatMul' | 'Gemm' | 'Conv' | 'Gather';

export interface LowRankFactor {
  op: 'MatMul' | 'Gemm' | 'Conv' | 'Gather';
  node: onnx.INodeProto;
  /** The weight value (initializer, Constant, or a constant subgraph such as Transpose(W)). */
  weight: string;
  /** Gemm only: the weight is stored [n, k] (transB=1). */
  transB: boolean;
}

export interface WalkedBranch {
  /** Value added to the base output. */
  output: string;
  /** The low-rank factors in data-flow order (A then B). */
  factors: LowRankFactor[];
  /** Product of every scalar Mul/Div/Gemm-alpha/Neg on the path. */
  scale: number;
  /** Constants multiplied per output feature after B (DoRA's magnitude / weight norm), value names. */
  columnScales: string[];
  /** Constant biases added after B (PEFT's `lora_bias`: B's own bias), each with the scale and per-feature factors applied after it. */
  biasTerms: BranchBias[];
  /** Every node of the path, in data-flow order. */
  nodes: onnx.INodeProto[];
  /** Values produced on the path before `output`: each must be read only by the next node. */
  intermediates: string[];
  /** Reasons this branch must not be folded (empty when foldable). */
  problems: string[];
}

export interface BranchBias {
  value: string;
  scale: number;
  columnScales: string[];
}

interface OpenPair {
  node: onnx.INodeProto;
  factorsAtOpen: number;
}

const MAX_PATH_NODES = 40;

/** A scalar constant value, or undefined. Scalars of rank > 1 may broadcast the result to a higher rank, so they are refused. */
function scalarOf(consts: ConstEvaluator, value: string): { value: number } | { problem: string } | undefined {
  const info = consts.info(value);
  if (!info.ok) return undefined;
  const dims = info.value.dims;
  if (dims.reduce((a, b) => a * b, 1) !== 1) return { problem: `'${value}' has shape [${dims.join(', ')}], not a scalar` };
  if (dims.length > 1) return { problem: `scale constant '${value}' has shape [${dims.join(', ')}], which can broadcast the branch to a higher rank` };
  const r = consts.evaluate(value);
  return r.ok ? { value: r.value.array.data[0] } : undefined;
}

export function walkBranch(
  index: GraphIndex,
  consts: ConstEvaluator,
  shapes: StaticShapes,
  start: string,
  xs: ReadonlySet<string>,
  base: BaseKind,
  baseDtype: number,
): WalkedBranch | undefined {
  const nodes: onnx.INodeProto[] = [];
  const problems: string[] = [];
  const factors: LowRankFactor[] = [];
  const columnScales: string[] = [];
  const biasTerms: BranchBias[] = [];
  const casts: onnx.INodeProto[] = [];
  const pairs: OpenPair[] = [];
  let scale = 1;
  let cur = start;
  // A bias input of a low-rank layer: B's (lora_bias) folds into the base bias; A's would pass through B, which is not done.
  const addFactorBias = (value: string, biasScale: number): void => {
    if (factors.length === 0) biasTerms.push({ value, scale: biasScale, columnScales: [...columnScales] });
    else problems.push(`the low-rank layer reading x adds a bias '${value}', which this fold does not merge`);
  };

  while (!xs.has(cur)) {
    const node = index.producer.get(cur);
    if (!node || (node.domain ?? '') !== '' || nodes.length >= MAX_PATH_NODES) return undefined;
    const ins = node.input ?? [];
    const op = node.op_type ?? '';
    nodes.unshift(node);
    let next: string | undefined;
    switch (op) {
      case 'Identity':
        next = ins[0];
        break;
      case 'Dropout': {
        // Dropout in inference mode is the identity; a training_mode input that is not constant false is not.
        const training = ins[2] ? consts.evaluate(ins[2]) : undefined;
        if (training && (!training.ok || training.value.array.data[0] !== 0)) problems.push(`Dropout '${node.name}' may run in training mode`);
        next = ins[0];
        break;
      }
      case 'Cast':
        casts.push(node);
        next = ins[0];
        break;
      case 'Neg':
        scale = -scale;
        next = ins[0];
        break;
      case 'Mul': {
        const c0 = consts.info(ins[0]).ok;
        const c1 = consts.info(ins[1]).ok;
        if (c0 && c1) return undefined; // a constant is not on a path from x
        if (!c0 && !c1) {
          // DoRA's m/‖W+ΔW‖ computed from a run-time value: still a LoRA branch (reported, not folded) if the other operand is one.
          if (factors.length > 0 || pairs.length > 0 || base === 'Conv') return undefined;
          for (const [path, factor] of [[ins[0], ins[1]], [ins[1], ins[0]]]) {
            const rest = walkBranch(index, consts, shapes, path, xs, base, baseDtype);
            if (!rest) continue;
            problems.push(...castProblems(casts, baseDtype));
            return {
              output: start,
              factors: rest.factors,
              scale: scale * rest.scale,
              columnScales: [...rest.columnScales, ...columnScales, factor],
              biasTerms: [
                ...biasTerms,
                ...rest.biasTerms.map((t) => ({
                  value: t.value,
                  scale: t.scale * scale,
                  columnScales: [...t.columnScales, ...columnScales, factor],
                })),
              ],
              nodes: [...rest.nodes, ...nodes],
              intermediates: [...rest.intermediates, rest.output, ...intermediatesOf(nodes, start)],
              problems: [...rest.problems, ...problems],
            };
          }
          return undefined;
        }
        const constIn = c0 ? ins[0] : ins[1];
        next = c0 ? ins[1] : ins[0];
        const sc = scalarOf(consts, constIn);
        if (sc && 'value' in sc) scale *= sc.value;
        else if (factors.length === 0 && base !== 'Conv' && isColumnVector(consts, constIn)) columnScales.push(constIn);
        else problems.push(sc && 'problem' in sc ? sc.problem : `Mul by '${constIn}' is not a scale`);
        break;
      }
      case 'Add': {
        // lora_bias: B's bias added after the low-rank product (TorchScript's MatMul + Add).
        const c0 = consts.info(ins[0]).ok;
        const c1 = consts.info(ins[1]).ok;
        if (c0 === c1) return undefined;
        if (factors.length > 0 || pairs.length > 0) problems.push(`Add '${node.name}' adds a constant before the last low-rank layer`);
        else biasTerms.push({ value: c0 ? ins[0] : ins[1], scale, columnScales: [...columnScales] });
        next = c0 ? ins[1] : ins[0];
        break;
      }
      case 'Div': {
        if (!consts.info(ins[1]).ok || consts.info(ins[0]).ok) return undefined;
        const sc = scalarOf(consts, ins[1]);
        if (sc && 'value' in sc) scale /= sc.value;
        else problems.push(sc && 'problem' in sc ? sc.problem : `Div by '${ins[1]}' is not a scale`);
        next = ins[0];
        break;
      }
      case 'MatMul':
      case 'Gemm':
      case 'Conv': {
        if (op === 'Gemm') {
          if (attrInt(node, 'transA', 0) !== 0) return undefined;
          if (ins[2]) addFactorBias(ins[2], scale * attrFloat(node, 'beta', 1));
          scale *= attrFloat(node, 'alpha', 1);
        }
        if (op === 'Conv' && ins[2]) addFactorBias(ins[2], scale);
        if (consts.info(ins[0]).ok) return undefined; // the constant is the left operand: not a layer applied to x
        factors.unshift({ op, node, weight: ins[1], transB: op === 'Gemm' && attrInt(node, 'transB', 0) === 1 });
        next = ins[0];
        break;
      }
      case 'Gather': {
        // The embedding LoRA: Gather(Aᵀ, ids) reads the same ids as the base embedding.
        if (!xs.has(ins[1]) || attrInt(node, 'axis', 0) !== 0) return undefined;
        factors.unshift({ op, node, weight: ins[0], transB: false });
        next = ins[1];
        break;
      }
      case 'Transpose':
      case 'Flatten':
      case 'Reshape': {
        // Walking backwards, the closing half of a pair comes first; it waits on the stack for its opening half.
        const top = pairs[pairs.length - 1];
        const reshapes = op !== 'Transpose' && top?.node.op_type === 'Reshape';
        const verdict = top && (top.node.op_type === op || reshapes)
          ? (op === 'Transpose' ? transposePairProblem(node, top, factors.length, base) : reshapePairProblem(index, shapes, node, top, factors.length, base))
          : 'no-pair';
        if (verdict === 'no-pair') pairs.push({ node, factorsAtOpen: factors.length });
        else {
          pairs.pop();
          if (verdict !== null) problems.push(verdict);
        }
        next = ins[0];
        break;
      }
      default:
        return undefined;
    }
    if (!next) return undefined;
    cur = next;
    if (factors.length > 2) return undefined;
  }

  if (!factorsFit(base, factors)) return undefined;
  for (const p of pairs) problems.push(`${p.node.op_type} '${p.node.name}' in the branch is not undone by a matching ${p.node.op_type}`);
  problems.push(...castProblems(casts, baseDtype));
  return { output: start, factors, scale, columnScales, biasTerms, nodes, intermediates: intermediatesOf(nodes, start), problems };
}

function castProblems(casts: onnx.INodeProto[], baseDtype: number): string[] {
  return casts.map((c) => castProblem(c, baseDtype)).filter((p): p is string => p !== null);
}

/** First outputs of the path's nodes except its end: each must be read only by the next node. */
function intermediatesOf(nodes: onnx.INodeProto[], end: string): string[] {
  return nodes.map((n) => n.output?.[0] ?? '').filter((o) => o && o !== end);
}

/** A LoRA branch has exactly two factors of the base's kind: A then B. */
function factorsFit(base: BaseKind, factors: LowRankFactor[]): boolean {
  if (factors.length !== 2) return false;
  const [a, b] = factors.map((f) => f.op);
  const linear = (o: string): boolean => o === 'MatMul' || o === 'Gemm';
  switch (base) {
    case 'MatMul':
    case 'Gemm':
      return linear(a) && linear(b);
    case 'Conv':
      return a === 'Conv' && b === 'Conv';
    case 'Gather':
      return a === 'Gather' && linear(b);
  }
}

function isColumnVector(consts: ConstEvaluator, value: string): boolean {
  const r = consts.info(value);
  if (!r.ok) return false;
  const d = r.value.dims;
  // [out] or [1, out]: a per-feature factor on the last axis that cannot raise the rank of a ≥2-D activation
  return d.length === 1 || (d.length === 2 && d[0] === 1);
}

/**
 * A Transpose pair cancels when the permutations compose to the identity.
 * With a MatMul between them it must also leave the last (feature) axis in
 * place, since the MatMul acts on that axis. Conv branches accept only
 * directly adjacent pairs.
 */
function transposePairProblem(opening: onnx.INodeProto, closing: OpenPair, factorsNow: number, base: BaseKind): string | null | 'no-pair' {
  const p1 = attrInts(opening, 'perm');
  const p2 = attrInts(closing.node, 'perm');
  if (!p1 || !p2 || p1.length !== p2.length) return 'no-pair';
  // applying p1 then p2: out[i] = in[p1[p2[i]]]
  if (!p2.every((v, i) => p1[v] === i)) return 'no-pair';
  const between = factorsNow - closing.factorsAtOpen;
  if (between === 0) return null;
  const last = p1.length - 1;
  if (base === 'Conv' || p1[last] !== last) {
    return `Transpose pair '${opening.name}'/'${closing.node.name}' moves the axis the low-rank layer acts on`;
  }
  return null;
}

/**
 * A Reshape/Flatten pair cancels when the second restores the shape the first
 * received. Proven either from the graph itself (the target shape is
 * `Shape(v)` of the first one's input) or from static shapes; with a low-rank
 * layer between them, the first may only regroup the leading dims (the
 * feature axis stays last) and the second must give them back.
 */
function reshapePairProblem(
  index: GraphIndex,
  shapes: StaticShapes,
  opening: onnx.INodeProto,
  closing: OpenPair,
  factorsNow: number,
  base: BaseKind,
): string | null | 'no-pair' {
  const v = opening.input?.[0] ?? '';
  const closingShape = closing.node.input?.[1] ?? '';
  const between = factorsNow - closing.factorsAtOpen;
  const cannot = `cannot prove that ${closing.node.op_type} '${closing.node.name}' restores the shape before ${opening.op_type} '${opening.name}'`;
  const shapeProducer = index.producer.get(closingShape);
  if (between === 0 && shapeProducer?.op_type === 'Shape' && shapeProducer.input?.[0] === v && !shapeProducer.attribute?.length) return null;
  const vShape = shapes.shapeOf(v);
  const end = shapes.shapeOf(closing.node.output?.[0] ?? '');
  if (!vShape || !end) return cannot;
  if (between === 0) return sameDims(vShape, end) ? null : cannot;
  if (base === 'Conv') return `Reshape pair '${opening.name}'/'${closing.node.name}' around a Conv`;
  const mid = shapes.shapeOf(opening.output?.[0] ?? '');
  const midOut = shapes.shapeOf(closing.node.input?.[0] ?? '');
  if (!mid || !midOut || mid.length !== midOut.length || vShape.length !== end.length) return cannot;
  const featureKept = mid[mid.length - 1] === vShape[vShape.length - 1] && sameDims(mid.slice(0, -1), midOut.slice(0, -1));
  const leadRestored = sameDims(end.slice(0, -1), vShape.slice(0, -1)) && end[end.length - 1] === midOut[midOut.length - 1];
  return featureKept && leadRestored ? null : cannot;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
