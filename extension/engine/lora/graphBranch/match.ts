/**
 * Finds the LoRA branches added to one base layer and checks that they can
 * be folded. Shared by the `lora-branch` pattern (scan) and its fold (fuse):
 * the fold matches again at the base node, so it always works on the graph
 * as it is now, also after earlier folds changed it.
 *
 * The structure, from the base layer's output:
 *
 *   base = MatMul(x, W) [+ bias] | Gemm(x, W, C) | Conv(x, W, b) | Gather(E, ids)
 *   out  = base ± term ± term …          (a chain of Adds, one per adapter)
 *   term = low-rank path (branchWalk) | a sum of terms
 *        | c ⊙ base  or  c ⊙ (base − bias)   (what DoRA adds: (m/‖W+ΔW‖ − 1) ⊙ base)
 *
 * Everything is linear in x, so the whole sum is again one layer with the
 * same bias: W' = W ⊙ (1 + Σc) + Σ scale · (product of the low-rank weights).
 */
import type { OnnxModel } from '../../onnx/model';
import type { onnx } from '../../onnx/proto';
import { isFloatType } from '../../onnx/dtypes';
import { attrFloat, attrInt, attrInts, attrString, GraphIndex } from '../../graph/graphIndex';
import { ConstEvaluator } from './constEval';
import { StaticShapes } from './staticShapes';
import { walkBranch, type BaseKind, type WalkedBranch } from './branchWalk';
import { castDown, castUp, inputFlatten, outputUnflatten } from './baseChain';

export type { BaseKind, WalkedBranch };

export interface LoraContext {
  model: OnnxModel;
  index: GraphIndex;
  consts: ConstEvaluator;
  shapes: StaticShapes;
}

export function loraContext(model: OnnxModel, index = new GraphIndex(model.graph)): LoraContext {
  const consts = new ConstEvaluator(model, index);
  const shapes = new StaticShapes(index, consts);
  consts.useShapes(shapes);
  return { model, index, consts, shapes };
}

/** `c ⊙ base` or `c ⊙ (base − b2)`: DoRA's rescaling of the base output. */
export interface BaseMultipleTerm {
  /** Per-output-feature (or scalar) multiplier value. */
  factor: string;
  sign: number;
  /** Reads the output after the bias (true) or the bare MatMul output (false). */
  readsBiased: boolean;
  /** The constant subtracted from the biased output first (DoRA removes the bias), or null. */
  subtracted: string | null;
  nodes: onnx.INodeProto[];
}

export interface LoraMatch {
  base: BaseKind;
  baseNode: onnx.INodeProto;
  /** Input shared by the base layer and every branch (ids for an embedding). */
  x: string;
  weight: string;
  /** The Add of a constant bias right after the base layer (MatMul + Add), or null. */
  biasAdd: onnx.INodeProto | null;
  /** Kept nodes between the layer (and its bias Add) and the branches' sum: the Reshape undoing an addmm's flattening, a Cast up to the adapters' dtype. */
  tail: onnx.INodeProto[];
  /** The Cast back to the base dtype after the sum (then the tail's Cast up goes too), or null. */
  castDown: onnx.INodeProto | null;
  /** The value the branches are added to (bias included). */
  baseOutput: string;
  branches: WalkedBranch[];
  baseTerms: BaseMultipleTerm[];
  /** The Adds/Subs that sum base and terms, in data-flow order. */
  sumNodes: onnx.INodeProto[];
  /** The value that replaces nothing: after the fold the base path produces it. */
  output: string;
  problems: string[];
  rank: number[];
}

interface TermSum {
  branches: WalkedBranch[];
  baseTerms: BaseMultipleTerm[];
  sumNodes: onnx.INodeProto[];
}

const BASE_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'Gather']);

/** The LoRA branches on `baseNode`, or undefined when it has none. */
export function matchLoraAt(ctx: LoraContext, baseNode: onnx.INodeProto): LoraMatch | undefined {
  const op = baseNode.op_type ?? '';
  if ((baseNode.domain ?? '') !== '' || !BASE_OPS.has(op)) return undefined;
  const base = op as BaseKind;
  const ins = baseNode.input ?? [];
  const { index, consts } = ctx;
  if (base === 'Gemm' && attrInt(baseNode, 'transA', 0) !== 0) return undefined;
  if (base === 'Gather' && attrInt(baseNode, 'axis', 0) !== 0) return undefined;
  const x = base === 'Gather' ? ins[1] : ins[0];
  const weight = base === 'Gather' ? ins[0] : ins[1];
  if (!x || !weight) return undefined;
  const w = consts.info(weight);
  const baseDtype = w.ok ? w.value.dtype : index.initializers.get(weight)?.data_type ?? 0;
  // An addmm layer flattens x first; its branches read x as it was.
  const flatten = base === 'Gemm' ? inputFlatten(ctx, baseNode) : undefined;
  const xs = new Set([x, ...(flatten ? [flatten.node.input?.[0] ?? ''] : [])]);
  const chainProblems: string[] = [];

  let biasAdd: onnx.INodeProto | null = null;
  let baseOutput = baseNode.output?.[0] ?? '';
  {
    // A bias Add after the layer: TorchScript's MatMul + Add, and Conv/Gemm exported without their own bias input.
    const c = index.consumersOf(baseOutput);
    const bias = c.find((u) => u.node.op_type === 'Add' && (u.node.domain ?? '') === '' && consts.info(u.node.input?.[1 - u.slot] ?? '').ok);
    if (bias) {
      biasAdd = bias.node;
      baseOutput = bias.node.output?.[0] ?? '';
    }
  }

  const rawOutput = baseNode.output?.[0] ?? '';
  const parse = (value: string, sign: number, depth: number): TermSum | undefined => {
    if (depth > 8) return undefined;
    const b = walkBranch(index, consts, ctx.shapes, value, xs, base, baseDtype);
    // Two runtime operands (attention's Q·Kᵀ) are not a LoRA branch; one constant factor is enough to report one.
    if (b && b.factors.every((f) => !consts.info(f.weight).ok)) return undefined;
    if (b) {
      b.scale *= sign;
      return { branches: [b], baseTerms: [], sumNodes: [] };
    }
    const bt = baseMultiple(ctx, value, sign, baseOutput, rawOutput, biasAdd !== null);
    if (bt) return { branches: [], baseTerms: [bt], sumNodes: [] };
    const node = index.producer.get(value);
    if (!node || (node.domain ?? '') !== '' || (node.op_type !== 'Add' && node.op_type !== 'Sub')) return undefined;
    const [l, r] = node.input ?? [];
    const left = parse(l, sign, depth + 1);
    const right = left && parse(r, node.op_type === 'Sub' ? -sign : sign, depth + 1);
    if (!left || !right) return undefined;
    return {
      branches: [...left.branches, ...right.branches],
      baseTerms: [...left.baseTerms, ...right.baseTerms],
      sumNodes: [...left.sumNodes, ...right.sumNodes, node],
    };
  };

  const sumAt = (start: string): TermSum & { top: string } => {
    const sum: TermSum & { top: string } = { branches: [], baseTerms: [], sumNodes: [], top: start };
    for (;;) {
      let advanced = false;
      for (const { node, slot } of index.consumersOf(sum.top)) {
        if ((node.domain ?? '') !== '' || (node.op_type !== 'Add' && node.op_type !== 'Sub')) continue;
        if (node.op_type === 'Sub' && slot !== 0) continue; // base − … only; … − base negates the base
        const other = node.input?.[1 - slot] ?? '';
        if (!other || other === sum.top) continue;
        const term = parse(other, node.op_type === 'Sub' ? -1 : 1, 0);
        if (!term || term.branches.length === 0 && term.baseTerms.length === 0) continue;
        sum.branches.push(...term.branches);
        sum.baseTerms.push(...term.baseTerms);
        sum.sumNodes.push(...term.sumNodes, node);
        sum.top = node.output?.[0] ?? '';
        advanced = true;
        break;
      }
      if (!advanced) return sum;
    }
  };

  // The branches are added right after the layer (and its bias), or after the Reshape that undoes an addmm's
  // flattening, or after a Cast up to the adapters' float32: try each in turn, keeping the nodes passed.
  const tail: onnx.INodeProto[] = [];
  let sum = sumAt(baseOutput);
  const unflatten = flatten && sum.branches.length === 0 ? outputUnflatten(ctx, baseOutput, flatten.node) : undefined;
  if (unflatten) {
    tail.push(unflatten.node);
    baseOutput = unflatten.node.output?.[0] ?? '';
    sum = sumAt(baseOutput);
    // The flattening matters only when a branch reads the unflattened x, i.e. when the branches are added here.
    for (const p of [flatten?.problem, unflatten.problem]) if (p && sum.branches.length) chainProblems.push(p);
  }
  const up = sum.branches.length === 0 ? castUp(ctx, baseOutput, baseDtype) : undefined;
  if (up) {
    tail.push(up);
    baseOutput = up.output?.[0] ?? '';
    sum = sumAt(baseOutput);
  }
  if (sum.branches.length === 0) return undefined;
  const down = up ? castDown(ctx, sum.top, baseDtype) ?? null : null;

  const match: LoraMatch = {
    base, baseNode, x, weight, biasAdd, tail, castDown: down, baseOutput,
    branches: sum.branches, baseTerms: sum.baseTerms, sumNodes: sum.sumNodes,
    output: down ? down.output?.[0] ?? '' : sum.top, problems: [], rank: [],
  };
  match.problems.push(...chainProblems, ...checkFoldable(ctx, match, w.ok ? undefined : w.why));
  return match;
}

/** `Mul(c, base)` or `Mul(c, Sub(base, b2))` with base the biased or bare output of the base layer. */
function baseMultiple(ctx: LoraContext, value: string, sign: number, biased: string, raw: string, hasBias: boolean): BaseMultipleTerm | undefined {
  const { index, consts } = ctx;
  const mul = index.producer.get(value);
  if (!mul || mul.op_type !== 'Mul' || (mul.domain ?? '') !== '') return undefined;
  for (const slot of [0, 1]) {
    const u = mul.input?.[slot] ?? '';
    const factor = mul.input?.[1 - slot] ?? '';
    if (u === biased || (hasBias && u === raw)) {
      return { factor, sign, readsBiased: u === biased, subtracted: null, nodes: [mul] };
    }
    const sub = index.producer.get(u);
    if (sub?.op_type === 'Sub' && (sub.domain ?? '') === '' && sub.input?.[0] === biased && consts.info(sub.input?.[1] ?? '').ok) {
      return { factor, sign, readsBiased: true, subtracted: sub.input[1], nodes: [sub, mul] };
    }
  }
  return undefined;
}

/** Every reason the match cannot be folded exactly; empty when it can. */
function checkFoldable(ctx: LoraContext, m: LoraMatch, weightNotConstant: string | undefined): string[] {
  const problems: string[] = [];
  const { index, consts } = ctx;
  if (weightNotConstant) problems.push(`the base weight '${m.weight}' is not constant: ${weightNotConstant}`);

  // Every value inside the structure must be read only inside it: otherwise the fold would change what that reader sees.
  const expected = new Map<string, number>();
  const expect = (v: string, n = 1): void => void expected.set(v, (expected.get(v) ?? 0) + n);
  const rawReads = m.baseTerms.filter((t) => !t.readsBiased).length;
  const biasedReads = m.baseTerms.filter((t) => t.readsBiased).length;
  if (m.biasAdd) expect(m.baseNode.output?.[0] ?? '', 1 + rawReads);
  for (const t of m.tail) expect(t.input?.[0] ?? '');
  expect(m.baseOutput, 1 + biasedReads);
  for (const b of m.branches) {
    for (const v of b.intermediates) expect(v);
    expect(b.output);
    for (const n of b.nodes) problems.push(...extraOutputsInUse(index, n));
  }
  for (const t of m.baseTerms) for (const n of t.nodes) if (n.output?.[0]) expect(n.output[0]);
  for (const n of m.sumNodes) if (n.output?.[0] && n.output[0] !== m.output) expect(n.output[0]);
  const inside = new Set<onnx.INodeProto>(matchNodes(m));
  for (const [v, n] of expected) {
    if (index.useCount(v) === n) continue;
    const outside = index.consumersOf(v).filter((c) => !inside.has(c.node)).map((c) => `node '${c.node.name || c.node.op_type}'`);
    if (index.graphOutputs.has(v)) outside.push('the graph outputs');
    if (index.usedBySubgraphs.has(v)) outside.push('a subgraph');
    problems.push(`'${v}' inside the LoRA structure is also read by ${outside.join(', ') || 'another reader'}`);
  }

  // Weights and factors must be constants of matching shapes.
  const wDims = dimsOf(ctx, m.weight);
  const ranks: number[] = [];
  m.branches.forEach((b, k) => {
    problems.push(...b.problems);
    const label = m.branches.length > 1 ? `branch ${k + 1}: ` : '';
    for (const t of b.biasTerms) {
      const r = consts.info(t.value);
      const n = r.ok ? r.value.dims.reduce((x, y) => x * y, 1) : 0;
      const perFeature = r.ok && (r.value.dims.length <= 1 || (r.value.dims.length === 2 && r.value.dims[0] === 1));
      if (!r.ok) problems.push(`${label}the branch bias '${t.value}' is not constant: ${r.why}`);
      else if (!perFeature || (wDims && n !== 1 && n !== outFeatures(m, wDims))) problems.push(`${label}the branch bias '${t.value}' has shape [${r.value.dims.join(', ')}], not one value per output feature`);
      if (!m.biasAdd && m.base !== 'Gemm' && m.base !== 'Conv') problems.push(`${label}the branch adds a bias ('${t.value}', lora_bias) but the base ${m.base} '${m.baseNode.name}' has no bias to fold it into`);
    }
    const dims = b.factors.map((f, i) => {
      const r = consts.info(f.weight);
      if (!r.ok) problems.push(`${label}the ${i === 0 ? 'A (down)' : 'B (up)'} weight '${f.weight}' is not constant: ${r.why}`);
      return r.ok ? r.value.dims : undefined;
    });
    for (const c of b.columnScales) {
      const r = consts.info(c);
      if (!r.ok) problems.push(`${label}the per-feature factor '${c}' is not constant: ${r.why}`);
      const n = r.ok ? r.value.dims.reduce((x, y) => x * y, 1) : 0;
      if (r.ok && wDims && n !== outFeatures(m, wDims)) problems.push(`${label}the factor '${c}' has shape [${r.value.dims.join(', ')}], not one value per output feature`);
    }
    if (dims[0] && dims[1] && wDims) {
      const shape = m.base === 'Conv' ? convShapeProblem(m, b, dims[0], dims[1], wDims) : linearShapeProblem(m, b, dims[0], dims[1], wDims);
      if (typeof shape === 'string') problems.push(label + shape);
      else ranks.push(shape);
    }
  });
  m.rank = ranks;
  if (!wDims && !weightNotConstant) problems.push(`the base weight '${m.weight}' has no known shape`);
  if (wDims && !isFloatType(baseDtypeOf(ctx, m.weight))) problems.push(`the base weight '${m.weight}' is not a float tensor`);

  for (const t of m.baseTerms) {
    const r = consts.info(t.factor);
    if (!r.ok) {
      problems.push(`DoRA rescaling by '${t.factor}' is not constant-foldable: ${r.why}`);
      continue;
    }
    const out = wDims ? outFeatures(m, wDims) : undefined;
    const d = r.value.dims;
    const n = d.reduce((a, b) => a * b, 1);
    if (m.base === 'Conv') problems.push('a DoRA rescaling of a Conv base is not folded');
    else if (!(n === 1 && d.length <= 1) && !(n === out && (d.length === 1 || (d.length === 2 && d[0] === 1)))) {
      problems.push(`DoRA rescaling '${t.factor}' has shape [${d.join(', ')}], not one value per output feature`);
    }
    if (t.subtracted) {
      const s = consts.info(t.subtracted);
      const count = s.ok ? s.value.dims.reduce((a, b) => a * b, 1) : 0;
      if (s.ok && count !== out && count !== 1) problems.push(`the constant '${t.subtracted}' subtracted from the base output is not a bias`);
    }
    if (t.readsBiased && m.biasAdd && m.baseNode.input?.[2]) problems.push('DoRA rescaling of a layer with two biases (its own and an Add after it) is not folded');
    else if (t.readsBiased && m.base === 'Gemm' && m.baseNode.input?.[2]) {
      const c = dimsOf(ctx, m.baseNode.input[2]);
      if (!c || (c.length === 2 && c[0] !== 1) || c.length > 2) problems.push('the Gemm bias is not one value per output feature');
    }
  }
  if (m.base === 'Gemm' && attrFloat(m.baseNode, 'alpha', 1) === 0) problems.push('the base Gemm has alpha = 0');
  return [...new Set(problems)];
}

/** A second output (Dropout's mask) read by anyone: removing the node would break that reader. */
function extraOutputsInUse(index: GraphIndex, n: onnx.INodeProto): string[] {
  return (n.output ?? []).slice(1).filter((o) => o && index.useCount(o) > 0).map((o) => `'${o}' (second output of ${n.op_type} '${n.name}') is read elsewhere`);
}

export function dimsOf(ctx: LoraContext, value: string): number[] | undefined {
  const r = ctx.consts.info(value);
  return r.ok ? r.value.dims : undefined;
}

function baseDtypeOf(ctx: LoraContext, value: string): number {
  const r = ctx.consts.info(value);
  return r.ok ? r.value.dtype : 0;
}

/** Output features of the base layer from its weight shape. */
export function outFeatures(m: LoraMatch, w: number[]): number {
  switch (m.base) {
    case 'MatMul': return w[1];
    case 'Gemm': return attrInt(m.baseNode, 'transB', 0) ? w[0] : w[1];
    case 'Conv': return w[0];
    case 'Gather': return w[1];
  }
}

/** [in, out] of a linear factor in `x · M` orientation. */
export function factorInOut(op: string, transB: boolean, dims: number[]): [number, number] | undefined {
  if (dims.length !== 2) return undefined;
  return op === 'Gemm' && transB ? [dims[1], dims[0]] : [dims[0], dims[1]];
}

/** The rank, or why the low-rank factors do not fit the base weight. */
function linearShapeProblem(m: LoraMatch, b: WalkedBranch, a: number[], bb: number[], w: number[]): number | string {
  if (w.length !== 2) return `the base weight has shape [${w.join(', ')}], not a matrix`;
  const [fa, fb] = b.factors;
  const ma = factorInOut(fa.op, fa.transB, a);
  const mb = factorInOut(fb.op, fb.transB, bb);
  if (!ma || !mb) return `low-rank weights of shapes [${a.join(', ')}] and [${bb.join(', ')}] are not matrices`;
  const inF = m.base === 'Gemm' && attrInt(m.baseNode, 'transB', 0) ? w[1] : w[0];
  const outF = outFeatures(m, w);
  if (ma[1] !== mb[0] || ma[0] !== inF || mb[1] !== outF) {
    return `low-rank weights [${a.join(', ')}] · [${bb.join(', ')}] do not line up with the base weight [${w.join(', ')}]`;
  }
  return ma[1];
}

const CONV_ATTRS = ['strides', 'pads', 'dilations'];

/** The rank, or why a Conv LoRA (k×k conv A, 1×1 conv B) cannot be one Conv with the base's attributes. */
function convShapeProblem(m: LoraMatch, b: WalkedBranch, a: number[], bb: number[], w: number[]): number | string {
  const [ca, cb] = b.factors.map((f) => f.node);
  const spatial = w.length - 2;
  if (a.length !== w.length || bb.length !== w.length) return `Conv LoRA weights [${a.join(', ')}] / [${bb.join(', ')}] do not match the base rank`;
  const norm = (n: onnx.INodeProto, name: string, dflt: number, len: number): string => JSON.stringify(attrInts(n, name) ?? new Array(len).fill(dflt));
  for (const name of CONV_ATTRS) {
    const len = name === 'pads' ? 2 * spatial : spatial;
    const dflt = name === 'pads' ? 0 : 1;
    if (norm(ca, name, dflt, len) !== norm(m.baseNode, name, dflt, len)) return `the A conv's ${name} differ from the base conv's`;
  }
  if ((attrString(ca, 'auto_pad') ?? 'NOTSET') !== (attrString(m.baseNode, 'auto_pad') ?? 'NOTSET')) return `the A conv's auto_pad differs from the base conv's`;
  if (a.slice(2).join() !== w.slice(2).join()) return `the A conv's kernel [${a.slice(2).join(', ')}] differs from the base kernel [${w.slice(2).join(', ')}]`;
  if (bb.slice(2).some((d) => d !== 1)) return `the B conv is not 1×1`;
  if (norm(cb, 'strides', 1, spatial) !== JSON.stringify(new Array(spatial).fill(1)) || norm(cb, 'pads', 0, 2 * spatial) !== JSON.stringify(new Array(2 * spatial).fill(0))) {
    return 'the B conv has strides or padding';
  }
  const autoPadB = attrString(cb, 'auto_pad') ?? 'NOTSET';
  if (autoPadB !== 'NOTSET' && autoPadB !== 'VALID') return `the B conv uses auto_pad ${autoPadB}`;
  const g = attrInt(m.baseNode, 'group', 1);
  const ga = attrInt(ca, 'group', 1);
  const gb = attrInt(cb, 'group', 1);
  const out = w[0];
  const inC = w[1] * g;
  const r = a[0];
  if (a[1] * ga !== inC || bb[1] * gb !== r || bb[0] !== out) return `Conv LoRA weights [${a.join(', ')}] / [${bb.join(', ')}] do not line up with the base weight [${w.join(', ')}]`;
  if (out % g || out % gb || r % ga || r % gb || inC % ga) return 'the conv groups do not divide the channels';
  // Every input channel an output channel reaches through B then A must lie in that output's base group.
  const outPerB = out / gb;
  const rPerB = r / gb;
  const rPerA = r / ga;
  const inPerA = inC / ga;
  const outPerG = out / g;
  const inPerG = inC / g;
  for (let o = 0; o < out; o++) {
    const G = Math.floor(o / outPerG);
    const bGroup = Math.floor(o / outPerB);
    for (let rr = bGroup * rPerB; rr < (bGroup + 1) * rPerB; rr++) {
      const aGroup = Math.floor(rr / rPerA);
      if (aGroup * inPerA < G * inPerG || (aGroup + 1) * inPerA > (G + 1) * inPerG) {
        return `the low-rank convs (groups ${ga} and ${gb}) mix channels across the base conv's ${g} groups`;
      }
    }
  }
  return r;
}

/** The nodes of a match in the order a candidate lists them: the base layer and what is kept after it first, then every branch node. */
export function matchNodes(m: LoraMatch): onnx.INodeProto[] {
  return [
    m.baseNode,
    ...(m.biasAdd ? [m.biasAdd] : []),
    ...m.tail,
    ...m.branches.flatMap((b) => b.nodes),
    ...m.baseTerms.flatMap((t) => t.nodes),
    ...m.sumNodes,
    ...(m.castDown ? [m.castDown] : []),
  ];
}

/** The nodes the fold keeps: the layer, its bias Add, its tail (but a Cast up whose Cast down goes too). */
export function keptNodes(m: LoraMatch): onnx.INodeProto[] {
  const tail = m.castDown ? m.tail.slice(0, -1) : m.tail;
  return [m.baseNode, ...(m.biasAdd ? [m.biasAdd] : []), ...tail];
}

/** The nodes a fold removes: everything but the kept ones. */
export function branchNodes(m: LoraMatch): onnx.INodeProto[] {
  const kept = new Set(keptNodes(m));
  return matchNodes(m).filter((n) => !kept.has(n));
}
