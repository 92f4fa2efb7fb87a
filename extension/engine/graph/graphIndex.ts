/**
 * An index over one graph: who produces each value, who consumes it, which
 * values are constants (initializers or `Constant` nodes — exporters use
 * both), and which are graph outputs. Patterns and folds ask it questions
 * instead of scanning the node list again.
 */
import { AttributeType, DataType, onnx, type ITensorProto } from '../onnx/proto';
import { RELABELLING_OPS, relabelledConstant } from './relabelledConstant';

export interface Consumer {
  node: onnx.INodeProto;
  /** Index of the input slot that reads the value. */
  slot: number;
}

export class GraphIndex {
  readonly producer = new Map<string, onnx.INodeProto>();
  readonly consumers = new Map<string, Consumer[]>();
  readonly initializers = new Map<string, ITensorProto>();
  /** Values produced by a `Constant` node with a tensor `value` attribute. */
  readonly constantNodes = new Map<string, onnx.INodeProto>();
  readonly graphOutputs: Set<string>;
  readonly graphInputs: Set<string>;
  /** Values read by subgraphs (If/Loop/Scan bodies) from this scope: never fold them away. */
  readonly usedBySubgraphs = new Set<string>();

  constructor(readonly graph: onnx.IGraphProto) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    this.graphInputs = new Set((graph.input ?? []).map((i) => i.name ?? '').filter((n) => !this.initializers.has(n)));
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) if (out) this.producer.set(out, node);
      (node.input ?? []).forEach((inp, slot) => {
        if (!inp) return;
        let list = this.consumers.get(inp);
        if (!list) this.consumers.set(inp, (list = []));
        list.push({ node, slot });
      });
      if (node.op_type === 'Constant' && ((node.domain ?? '') === '' || node.domain === 'ai.onnx') && constantAttributeTensor(node)) {
        this.constantNodes.set(node.output?.[0] ?? '', node);
      }
      for (const a of node.attribute ?? []) {
        for (const g of [a.g, ...(a.graphs ?? [])]) if (g) collectOuterReads(g, this.usedBySubgraphs);
      }
    }
  }

  consumersOf(value: string): Consumer[] {
    return this.consumers.get(value) ?? [];
  }

  /** How many places read a value: node inputs, graph outputs, subgraphs. */
  useCount(value: string): number {
    return this.consumersOf(value).length + (this.graphOutputs.has(value) ? 1 : 0) + (this.usedBySubgraphs.has(value) ? 1 : 0);
  }

  /** The single node consuming `value`, if exactly one node reads it and nothing else does. */
  soleConsumer(value: string): onnx.INodeProto | undefined {
    const c = this.consumersOf(value);
    return c.length === 1 && this.useCount(value) === 1 ? c[0].node : undefined;
  }

  /**
   * The constant tensor behind a value: an initializer that is not also a
   * graph input (those can be overridden at run time), a Constant node's
   * tensor, or one of those relabelled by Identity / Reshape / Unsqueeze /
   * Squeeze / Flatten (graph/relabelledConstant.ts).
   */
  constantTensor(value: string, depth = 0): ITensorProto | undefined {
    const init = this.initializers.get(value);
    if (init) return this.graphInputs.has(value) || isOverridable(this.graph, value) ? undefined : init;
    const c = this.constantNodes.get(value);
    if (c) return constantAttributeTensor(c);
    const p = this.producer.get(value);
    // Depth-bounded: a hostile file may chain Identities in a cycle.
    if (!p || depth >= MAX_RELABEL_DEPTH || !RELABELLING_OPS.has(p.op_type ?? '') || !((p.domain ?? '') === '' || p.domain === 'ai.onnx')) return undefined;
    if (p.output?.[0] !== value) return undefined;
    const source = p.input?.[0] ? this.constantTensor(p.input[0], depth + 1) : undefined;
    return source ? relabelledConstant(p, source, (v) => this.constantTensor(v, depth + 1)) : undefined;
  }

  isConstant(value: string): boolean {
    return this.constantTensor(value) !== undefined;
  }
}

const MAX_RELABEL_DEPTH = 16;

/** An initializer listed in graph.input is a default that callers may override (IR < 4 style). */
function isOverridable(graph: onnx.IGraphProto, name: string): boolean {
  return (graph.input ?? []).some((i) => i.name === name);
}

/**
 * The tensor a Constant node produces: its `value` tensor, or (opset 12+) the
 * shorthands `value_float(s)` / `value_int(s)` that onnx.helper and graph
 * tools write, as an equivalent float32 / int64 tensor. The same object is
 * returned on every call, so folds can compare tensors by identity.
 */
export function constantAttributeTensor(node: onnx.INodeProto): ITensorProto | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === 'value');
  if (a) return a.type === AttributeType.TENSOR || a.t ? a.t ?? undefined : undefined;
  let t = shorthandTensors.get(node);
  if (!t) {
    t = shorthandTensor(node);
    if (t) shorthandTensors.set(node, t);
  }
  return t;
}

const shorthandTensors = new WeakMap<onnx.INodeProto, ITensorProto>();

function shorthandTensor(node: onnx.INodeProto): ITensorProto | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === 'value_float' || x.name === 'value_floats' || x.name === 'value_int' || x.name === 'value_ints');
  if (!a) return undefined;
  switch (a.name) {
    case 'value_float':
      return onnx.TensorProto.create({ data_type: DataType.FLOAT, dims: [], float_data: [a.f ?? 0] });
    case 'value_floats':
      return onnx.TensorProto.create({ data_type: DataType.FLOAT, dims: [(a.floats ?? []).length], float_data: [...(a.floats ?? [])] });
    case 'value_int':
      return onnx.TensorProto.create({ data_type: DataType.INT64, dims: [], int64_data: [a.i ?? 0] });
    default:
      return onnx.TensorProto.create({ data_type: DataType.INT64, dims: [(a.ints ?? []).length], int64_data: [...(a.ints ?? [])] });
  }
}

/** Names a subgraph reads that it does not define itself (its outer-scope reads). */
function collectOuterReads(g: onnx.IGraphProto, into: Set<string>): void {
  const defined = new Set<string>([
    ...(g.input ?? []).map((i) => i.name ?? ''),
    ...(g.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  for (const n of g.node ?? []) for (const o of n.output ?? []) defined.add(o);
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i && !defined.has(i)) into.add(i);
    for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectOuterReads(sg, into);
  }
  for (const o of g.output ?? []) if (o.name && !defined.has(o.name)) into.add(o.name);
}

/** Reads a node attribute by name with a default. */
export function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  if (!a || a.i === undefined || a.i === null) return dflt;
  return Number(a.i.toString());
}

export function attrFloat(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.f !== undefined && a.f !== null ? a.f : dflt;
}

export function attrInts(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints ? a.ints.map((v) => Number(v.toString())) : undefined;
}

export function attrString(node: onnx.INodeProto, name: string): string | undefined {
  const a = attr(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : undefined;
}
