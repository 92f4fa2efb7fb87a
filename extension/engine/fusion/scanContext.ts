/**
 * What pattern detectors see, and the checks they share: whether an
 * intermediate value may disappear, whether a parameter is a usable constant,
 * how a "linear" layer looks in ONNX. Detectors (patterns/*.ts) return
 * PatternMatches; scan.ts turns them into Candidates (ids, modules, warnings).
 */
import type { OnnxModel } from '../onnx/model';
import type { onnx, ITensorProto } from '../onnx/proto';
import { dtypeName, isFloatType } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import { attrInt, type GraphIndex } from '../graph/graphIndex';
import type { ModuleTree } from '../graph/moduleTree';
import type { ExporterFoldedConv } from '../graph/exporterFolds';
import { knownAddress } from '../graph/nodeAddress';
import type { PatternName } from './candidate';
import type { Ranks } from './ranks';
import type { CandidateWarning } from './warnings';

export type Node = onnx.INodeProto;
import type { CandidateDetails } from './candidate';
/** What a detector found out about its sequence (candidate.ts types it per family). */
export type Details = CandidateDetails;

export interface ScanContext {
  readonly model: OnnxModel;
  readonly index: GraphIndex;
  readonly tree: ModuleTree;
  readonly ranks: Ranks;
  /** Convs into which the exporter folded a BatchNorm, by node address (graph/exporterFolds.ts). */
  readonly exporterFolded: ReadonlyMap<string, ExporterFoldedConv>;
  /** Nodes that can be named in a candidate: every node of the main graph (graph/nodeAddress.ts names the unnamed and the duplicates). */
  isAddressable(node: Node): boolean;
}

/** A sequence found by a detector, before scan gives it an id, modules and warnings. */
export interface PatternMatch {
  pattern: PatternName;
  /** In data-flow order. */
  nodes: Node[];
  folds: boolean;
  blocked: string | null;
  warnings?: CandidateWarning[];
  /** The modules to report when the detector knows better than the per-node tree lookup (lora-branch: the adapted layer). */
  modules?: (string | null)[];
  details?: Details;
}

/**
 * One family of patterns. Adding a family is one file exporting a
 * PatternDetector and one line in patterns/index.ts.
 */
export interface PatternDetector {
  /** Family name, e.g. 'conv-bn'. */
  readonly name: string;
  /** The pattern names this family can report. */
  readonly patterns: readonly PatternName[];
  detect(ctx: ScanContext): PatternMatch[];
}

/** ONNX default-domain op of the given type(s). */
export function isOp(node: Node | undefined, ...types: string[]): node is Node {
  return !!node && types.includes(node.op_type ?? '') && ((node.domain ?? '') === '' || node.domain === 'ai.onnx');
}

/** isOp without type narrowing, for values already known to be nodes. */
export function hasOp(node: Node, ...types: string[]): boolean {
  return isOp(node, ...types);
}

/** A node as messages name it: the address scan lists it by (`'Conv#0'` for an unnamed node), else its name. */
export function nodeLabel(node: Node): string {
  const address = knownAddress(node) ?? node.name;
  return address ? `'${address}'` : `(unnamed ${node.op_type})`;
}

/**
 * Why `value` (output of `node`, an intermediate of a sequence) cannot
 * disappear into a fused node: another reader, a graph output, a subgraph.
 */
export function intermediateProblem(ctx: ScanContext, node: Node, value: string, next: Node): string | null {
  const { index } = ctx;
  if (index.graphOutputs.has(value)) return `output '${value}' of ${nodeLabel(node)} is also a graph output`;
  const others = index.consumersOf(value).filter((c) => c.node !== next);
  if (others.length > 0) {
    const names = [...new Set(others.map((c) => nodeLabel(c.node)))];
    return `output '${value}' of ${nodeLabel(node)} is also used by ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
  }
  if (index.usedBySubgraphs.has(value)) return `output '${value}' of ${nodeLabel(node)} is also read inside a subgraph`;
  return null;
}

/** Why a parameter input cannot be folded: not constant (graph input, computed), or an unsupported dtype. */
export function parameterProblem(ctx: ScanContext, value: string, role: string): string | null {
  const { index } = ctx;
  if (!value) return null;
  if (index.initializers.has(value) && !index.isConstant(value)) return `${role} '${value}' is also a graph input, so it can change at run time`;
  const t = index.constantTensor(value);
  if (!t) {
    const p = index.producer.get(value);
    return p ? `${role} '${value}' is computed by ${nodeLabel(p)}, not a constant` : `${role} '${value}' is a graph input, not a constant`;
  }
  const dtype = t.data_type ?? 0;
  if (!isFloatType(dtype)) return `${role} '${value}' is ${dtypeName(dtype)}; only float32, float16, bfloat16 and float64 weights can be folded`;
  return null;
}

/** The first problem among several checks, or null. */
export function firstProblem(...problems: (string | null | undefined)[]): string | null {
  for (const p of problems) if (p) return p;
  return null;
}

/** Other nodes that read a parameter: a fold must write a copy for its own node instead of changing the shared one. */
export function sharedWith(ctx: ScanContext, value: string, self: Node): string[] {
  if (!value) return [];
  return [...new Set(ctx.index.consumersOf(value).filter((c) => c.node !== self).map((c) => c.node.name ?? `(unnamed ${c.node.op_type})`))];
}

/** The constant's dims, or undefined. */
export function constantDims(ctx: ScanContext, value: string): number[] | undefined {
  const t = ctx.index.constantTensor(value) ?? ctx.index.initializers.get(value);
  return t ? tensorDims(t) : undefined;
}

/** A tensor that is a constant or at least an initializer (possibly overridable): enough to recognise a layer's shape. */
export function weightTensor(ctx: ScanContext, value: string | undefined): ITensorProto | undefined {
  if (!value) return undefined;
  return ctx.index.constantTensor(value) ?? ctx.index.initializers.get(value);
}

/** Output channels of a Conv / ConvTranspose from its weight, if known. */
export function convOutChannels(ctx: ScanContext, conv: Node): number | undefined {
  const w = weightTensor(ctx, conv.input?.[1]);
  if (!w) return undefined;
  const dims = tensorDims(w);
  if (dims.length < 3) return undefined;
  return conv.op_type === 'ConvTranspose' ? dims[1] * attrInt(conv, 'group', 1) : dims[0];
}

/** Spatial dimensions of a Conv / ConvTranspose (1, 2 or 3) from its weight rank. */
export function convSpatialDims(ctx: ScanContext, conv: Node): number | undefined {
  const w = weightTensor(ctx, conv.input?.[1]);
  return w ? tensorDims(w).length - 2 : undefined;
}

/** A Linear layer as ONNX shows it: Gemm, or MatMul by a constant 2-D weight, optionally followed by a bias Add. */
export interface LinearLayer {
  kind: 'Gemm' | 'MatMul';
  /** [Gemm] or [MatMul] or [MatMul, Add]. */
  nodes: Node[];
  /** The value the layer produces (Gemm / MatMul / bias Add output). */
  output: string;
  weight: string;
  bias: string | null;
  /** Output features, if known. */
  outFeatures: number | undefined;
}

/** Recognises a linear layer that starts at `node`; the bias Add is included only when it is the MatMul's sole reader. */
export function linearAt(ctx: ScanContext, node: Node): LinearLayer | undefined {
  if (hasOp(node, 'Gemm')) {
    const b = node.input?.[1] ?? '';
    const w = weightTensor(ctx, b);
    const dims = w ? tensorDims(w) : undefined;
    const outFeatures = dims?.length === 2 ? dims[attrInt(node, 'transB', 0) ? 0 : 1] : undefined;
    return { kind: 'Gemm', nodes: [node], output: node.output?.[0] ?? '', weight: b, bias: node.input?.[2] || null, outFeatures };
  }
  if (!hasOp(node, 'MatMul')) return undefined;
  const wName = node.input?.[1] ?? '';
  const w = weightTensor(ctx, wName);
  if (!w || tensorDims(w).length !== 2) return undefined;
  const outFeatures = tensorDims(w)[1];
  const out = node.output?.[0] ?? '';
  const next = ctx.index.soleConsumer(out);
  if (isOp(next, 'Add') && ctx.isAddressable(next)) {
    const other = next.input?.[0] === out ? next.input?.[1] : next.input?.[0];
    const bdims = other ? constantDims(ctx, other) : undefined;
    if (other && bdims && isRowBias(bdims, outFeatures)) {
      return { kind: 'MatMul', nodes: [node, next], output: next.output?.[0] ?? '', weight: wName, bias: other, outFeatures };
    }
  }
  return { kind: 'MatMul', nodes: [node], output: out, weight: wName, bias: null, outFeatures };
}

/** A bias that adds one value per output feature: [N], [1, N] (or one value for all). */
export function isRowBias(dims: number[], n: number): boolean {
  if (dims.length > 2) return false;
  const last = dims.length ? dims[dims.length - 1] : 1;
  const lead = dims.length === 2 ? dims[0] : 1;
  return lead === 1 && (last === n || last === 1);
}
