/**
 * The Graph tab's worker methods (types in protocol/graphMethods.ts): the
 * catalog of a model's graph, layouts for a set of expanded modules, one
 * node's details with weight statistics, the alignment of two models for the
 * diff mode, and "Locate drift".
 */
import { ModelFuseError } from '../../engine/errors';
import { defaultExpanded, visibleGraph } from '../../engine/graph/graphViewVisible';
import { layoutGraph } from '../../engine/graph/graphLayout';
import { alignGraphs } from '../../engine/graph/graphAlign';
import { formatAttributes } from '../../engine/graph/nodeAttributes';
import { isNumericType } from '../../engine/onnx/dtypes';
import { tensorDims } from '../../engine/onnx/tensors';
import { paramStats } from '../../engine/stats/moduleParams';
import type { ParamSource } from '../../engine/stats/paramSource';
import type { GraphCatalog, NodeDetails } from '../../protocol/graphMethods';
import { StaticShapes } from '../../engine/lora/graphBranch/staticShapes';
import { ConstEvaluator } from '../../engine/lora/graphBranch/constEval';
import { registerHandler } from '../registry';
import { locateDrift } from '../ort/locateDrift';
import { requirePath } from './engineHandlers';
import { bytesEqual, openGraph, paramTensor, type OpenGraph } from './graphModels';

registerHandler('graph/open', async (params, ctx): Promise<GraphCatalog> => {
  const path = requirePath(params?.path, 'graph/open');
  ctx.progress('reading the graph');
  const { view } = openGraph(path);
  return {
    path,
    nodes: view.nodes.map((n) => ({ id: n.id, op: n.op, module: n.module, box: n.box })),
    modules: view.modules.map((m) => ({ path: m.path, parent: m.parent, total: m.total })),
    sequences: view.sequences,
    hiddenNodes: view.hiddenNodes,
    defaultExpanded: defaultExpanded(view),
  };
});

registerHandler('graph/layout', async (params, ctx) => {
  const path = requirePath(params?.path, 'graph/layout');
  if (!Array.isArray(params.expanded) || !params.expanded.every((m) => typeof m === 'string')) throw new ModelFuseError('graph/layout: expanded must be a list of module paths');
  const { view } = openGraph(path);
  ctx.progress('laying out the graph');
  const graph = visibleGraph(view, params.expanded);
  return { graph, layout: layoutGraph(graph) };
});

registerHandler('graph/node', async (params, ctx): Promise<NodeDetails> => {
  const path = requirePath(params?.path, 'graph/node');
  const g = openGraph(path);
  const node = g.nodeById.get(String(params.node));
  const proto = g.protoById.get(String(params.node));
  if (!node || !proto) throw new ModelFuseError(`${path}: no node '${params.node}' (the model changed on disk?)`);
  ctx.progress('reading the node weights');
  const values = new Map(g.view.values.map((v) => [v.name, v]));
  // Exporters declare few intermediate types; where none is declared, the static shape when it can be proven.
  const shapes = new StaticShapes(g.analysis.index, new ConstEvaluator(g.model, g.analysis.index));
  const info = (name: string) => values.get(name) ?? { name, dtype: null, shape: shapes.shapeOf(name) ?? null };
  const source = nodeParamSource(g, node.module);
  return {
    node,
    attributes: formatAttributes(proto),
    inputs: node.inputs.filter((v) => v !== '').map(info),
    outputs: node.outputs.filter((v) => v !== '').map(info),
    params: node.params.filter((p) => source.info(p.name) !== undefined).map((p) => paramStats(source, p.name, params.bins)),
  };
});

/** A node's parameters (initializers and Constant tensors) as the Inspector's statistics read them. */
function nodeParamSource(g: OpenGraph, module: string): ParamSource {
  const tensorOf = (name: string) => paramTensor(g, name);
  return {
    path: g.path,
    names: () => [],
    info: (name) => {
      const t = tensorOf(name);
      return t && isNumericType(t.data_type ?? 0) ? { dims: tensorDims(t), dtype: t.data_type ?? 0 } : undefined;
    },
    bytes: (name) => g.model.tensorBytes(tensorOf(name)!),
    values: (name) => g.model.tensorValues(tensorOf(name)!),
    moduleOf: () => module || null,
    close: () => undefined,
  };
}

registerHandler('graph/diff', async (params, ctx) => {
  const before = requirePath(params?.before, 'graph/diff');
  const after = requirePath(params?.after, 'graph/diff');
  ctx.progress('aligning the two graphs');
  const a = openGraph(before);
  const b = openGraph(after);
  const alignment = alignGraphs(a.view, b.view, bytesEqual(a, b));
  return { before, after, ...alignment };
});

registerHandler('graph/drift', async (params, ctx) => {
  requirePath(params?.modelA, 'graph/drift');
  requirePath(params?.modelB, 'graph/drift');
  return locateDrift(params, ctx);
});
