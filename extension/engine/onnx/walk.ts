/** Visits every TensorProto and subgraph of a model: initializers, Constant and attribute tensors, subgraphs, functions. */
import type { onnx } from './proto';

export interface TensorVisit {
  tensor: onnx.ITensorProto;
  /** Where it sits, for error messages: "initializer", "node 'x' attribute 'value'", … */
  where: string;
  /** True for the top-level graph's initializers. */
  topLevelInitializer: boolean;
}

export function forEachTensor(model: onnx.IModelProto, visit: (v: TensorVisit) => void): void {
  if (model.graph) walkGraph(model.graph, true, visit, 0);
  for (const f of model.functions ?? []) for (const n of f.node ?? []) walkNode(n, visit, 1);
  for (const ti of model.training_info ?? []) {
    if (ti.initialization) walkGraph(ti.initialization, false, visit, 1);
    if (ti.algorithm) walkGraph(ti.algorithm, false, visit, 1);
  }
}

function walkGraph(g: onnx.IGraphProto, top: boolean, visit: (v: TensorVisit) => void, depth: number): void {
  if (depth > 64) throw new RangeError('subgraphs are nested more than 64 deep');
  for (const t of g.initializer ?? []) visit({ tensor: t, where: 'initializer', topLevelInitializer: top });
  for (const s of g.sparse_initializer ?? []) {
    if (s.values) visit({ tensor: s.values, where: 'sparse initializer values', topLevelInitializer: false });
    if (s.indices) visit({ tensor: s.indices, where: 'sparse initializer indices', topLevelInitializer: false });
  }
  for (const n of g.node ?? []) walkNode(n, visit, depth);
}

function walkNode(n: onnx.INodeProto, visit: (v: TensorVisit) => void, depth: number): void {
  for (const a of n.attribute ?? []) {
    const where = `node '${n.name ?? n.op_type}' attribute '${a.name}'`;
    if (a.t) visit({ tensor: a.t, where, topLevelInitializer: false });
    for (const t of a.tensors ?? []) visit({ tensor: t, where, topLevelInitializer: false });
    if (a.sparse_tensor?.values) visit({ tensor: a.sparse_tensor.values, where, topLevelInitializer: false });
    if (a.g) walkGraph(a.g, false, visit, depth + 1);
    for (const g of a.graphs ?? []) walkGraph(g, false, visit, depth + 1);
  }
}
