/**
 * The graph view-model: what the Graph tab draws, built once per model from
 * the graph, the module tree (graph/moduleTree.ts, consumed through its
 * public API only) and the scan's candidates.
 *
 * - Nodes are addressed as everywhere else (graph/nodeAddress.ts).
 * - Weights are not boxes: an input that is an initializer or a Constant
 *   (also one relabelled by Identity/Reshape/…, as GraphIndex sees it) is a
 *   parameter of the node reading it, and the Constant / relabelling nodes
 *   that only feed parameters are hidden.
 * - Every node belongs to the module the tree puts it in; modules nest as
 *   in the tree, so the view can collapse any of them (graphViewVisible.ts).
 * - Each fusible sequence carries its status (safe, grouping-only, blocked +
 *   reason) and, for LoRA branches, module · rank · scale.
 *
 * Plain data (no Maps, no protobuf objects), so the worker can send it and
 * tests can compare it.
 */
import type { OnnxModel } from '../onnx/model';
import type { onnx } from '../onnx/proto';
import { dtypeName } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import type { CandidateView } from '../fusion/candidateView';
import type { GraphIndex } from './graphIndex';
import type { ModuleTree, ModuleTreeNode } from './moduleTree';
import { nodeAddresses } from './nodeAddress';
import { RELABELLING_OPS } from './relabelledConstant';
import { INPUT_PREFIX, OUTPUT_PREFIX, type SequenceStatus, type SequenceMark, type GraphParam, type GraphValueInfo, type GraphNode, type GraphModule, type GraphEdge, type GraphView } from './graphViewTypes';
export * from './graphViewTypes';

export function buildGraphView(model: OnnxModel, index: GraphIndex, tree: ModuleTree, candidates: readonly CandidateView[]): GraphView {
  const graph = model.graph;
  const addresses = nodeAddresses(graph.node ?? []);
  const isParam = (value: string) => value !== '' && (index.initializers.has(value) || index.constantTensor(value) !== undefined);
  const hidden = new Set<onnx.INodeProto>();
  for (const n of graph.node ?? []) if (producesOnlyParameters(n, index, isParam)) hidden.add(n);

  const sequencesOf = new Map<string, string[]>();
  for (const c of candidates) for (const id of c.nodes) (sequencesOf.get(id) ?? sequencesOf.set(id, []).get(id)!).push(c.id);

  const nodes: GraphNode[] = [];
  for (const n of graph.node ?? []) {
    if (hidden.has(n)) continue;
    const id = addresses.get(n)!;
    const inputs: string[] = [];
    const params: GraphParam[] = [];
    (n.input ?? []).forEach((value, slot) => {
      if (isParam(value)) params.push(paramOf(value, slot, index));
      else inputs.push(value);
    });
    nodes.push({
      id,
      op: n.op_type ?? '',
      domain: n.domain && n.domain !== 'ai.onnx' ? n.domain : '',
      module: tree.moduleOf(id) ?? '',
      modules: tree.modulesOf(id),
      box: '',
      inputs,
      outputs: [...(n.output ?? [])],
      params,
      sequences: sequencesOf.get(id) ?? [],
    });
  }

  const modules = flattenModules(tree.root, new Set(nodes.map((n) => n.id)), tree);
  const boxOf = new Map(modules.flatMap((m) => m.nodes.map((n) => [n, m.path] as const)));
  for (const n of nodes) n.box = boxOf.get(n.id) ?? '';
  return {
    nodes,
    modules,
    edges: dataflowEdges(nodes, graph),
    inputs: (graph.input ?? []).filter((v) => !index.initializers.has(v.name ?? '')).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    values: [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])].map(valueInfo),
    sequences: candidates.map(sequenceMark),
    hiddenNodes: hidden.size,
  };
}

/** A Constant, or an Identity/Reshape/… of a weight, read only as a parameter: drawn as part of its readers. */
function producesOnlyParameters(n: onnx.INodeProto, index: GraphIndex, isParam: (v: string) => boolean): boolean {
  const op = n.op_type ?? '';
  if (op !== 'Constant' && !RELABELLING_OPS.has(op)) return false;
  return (n.output ?? []).every((o) => isParam(o) && !index.graphOutputs.has(o));
}

function paramOf(value: string, slot: number, index: GraphIndex): GraphParam {
  const init = index.initializers.get(value);
  const t = init ?? index.constantTensor(value)!;
  return { name: value, slot, dims: tensorDims(t), dtype: dtypeName(t.data_type ?? 0), source: init ? 'initializer' : 'constant' };
}

function dataflowEdges(nodes: readonly GraphNode[], graph: onnx.IGraphProto): GraphEdge[] {
  const producer = new Map<string, string>();
  for (const v of graph.input ?? []) if (v.name) producer.set(v.name, INPUT_PREFIX + v.name);
  for (const n of nodes) for (const o of n.outputs) if (o) producer.set(o, n.id);
  const edges: GraphEdge[] = [];
  for (const n of nodes) {
    for (const value of n.inputs) {
      const from = producer.get(value);
      if (from !== undefined) edges.push({ from, to: n.id, value });
    }
  }
  for (const o of graph.output ?? []) {
    const from = producer.get(o.name ?? '');
    if (from !== undefined) edges.push({ from, to: OUTPUT_PREFIX + o.name, value: o.name ?? '' });
  }
  return edges;
}

/**
 * The module tree as a flat list, parents first; only visible nodes are counted.
 * A leaf module called from several places (the shared `relu` of a ResNet)
 * is no box: one box for its five calls would tie five places of the network
 * into one knot. Its nodes are drawn where they run, as nodes of its parent.
 */
function flattenModules(root: ModuleTreeNode, visible: ReadonlySet<string>, tree: ModuleTree): GraphModule[] {
  const out: GraphModule[] = [];
  const isShared = (m: ModuleTreeNode) => m.children.length === 0 && tree.callSites(m.path).length > 1;
  const visit = (m: ModuleTreeNode, parent: string | null): number => {
    const children = m.children.filter((c) => !isShared(c));
    const entry: GraphModule = {
      path: m.path,
      name: m.name,
      parent,
      children: children.map((c) => c.path),
      nodes: [m, ...m.children.filter(isShared)].flatMap((x) => x.nodes).filter((n) => visible.has(n)),
      total: 0,
      className: m.className ?? null,
    };
    out.push(entry);
    entry.total = entry.nodes.length + children.reduce((sum, c) => sum + visit(c, m.path), 0);
    return entry.total;
  };
  visit(root, null);
  return out;
}

export function valueInfo(v: onnx.IValueInfoProto): GraphValueInfo {
  const t = v.type?.tensor_type;
  const dimension = (d: onnx.TensorShapeProto.IDimension): string | number | null =>
    d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? Number(d.dim_value) : null;
  const shape = t?.shape ? (t.shape.dim ?? []).map(dimension) : null;
  return { name: v.name ?? '', dtype: t ? dtypeName(t.elem_type ?? 0) : null, shape };
}

export function sequenceStatus(c: CandidateView): SequenceStatus {
  return c.blocked !== null ? 'blocked' : c.folds ? 'safe' : 'grouping';
}

function sequenceMark(c: CandidateView): SequenceMark {
  const status = sequenceStatus(c);
  const isLora = c.pattern === 'lora-branch';
  const detail = (k: 'module' | 'rank' | 'scale') => (c.details?.[k] === undefined || c.details[k] === null ? null : String(c.details[k]));
  return {
    id: c.id,
    pattern: c.pattern,
    status,
    // Why it is not fused, as fuse, the CLI and the side panel say it (one owner: fusion/fusibility.ts).
    reason: c.fusibility.reason,
    nodes: c.nodes,
    modules: c.modules,
    label: [c.label, ...c.loraFacts].join(' · '),
    warnings: c.warnings.map((w) => w.text),
    lora: isLora ? { module: detail('module'), rank: detail('rank'), scale: detail('scale') } : null,
  };
}
