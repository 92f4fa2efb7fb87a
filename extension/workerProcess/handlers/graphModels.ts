/**
 * The models the Graph tab has open in the worker: the model (weights on
 * demand: a node panel reads only its node's tensors), its analysis (the
 * overview's: modelAnalysis.ts) and its
 * graph view-model, kept so that expanding a module or clicking a node does
 * not parse the file again. A few are kept (an editor and its diff partner);
 * an entry is rebuilt when the file changes on disk.
 */
import * as fs from 'node:fs';
import { fileError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import type { ModelAnalysis } from '../../engine/fusion/scan';
import type { PythonDefinition } from '../../engine/graph/pythonFolds';
import { analyzeAsShown, definitionOf } from './modelAnalysis';
import { toCandidateView } from '../../engine/fusion/candidateView';
import { buildGraphView, type GraphNode, type GraphView } from '../../engine/graph/graphView';
import { nodeAddresses } from '../../engine/graph/nodeAddress';
import type { WeightComparer } from '../../engine/graph/graphAlign';
import type { onnx } from '../../engine/onnx/proto';

export interface OpenGraph {
  path: string;
  model: OnnxModel;
  analysis: ModelAnalysis;
  view: GraphView;
  nodeById: Map<string, GraphNode>;
  protoById: Map<string, onnx.INodeProto>;
}

const KEPT = 3;
const open = new Map<string, { mtimeMs: number; size: number; python: PythonDefinition | undefined; graph: OpenGraph }>();

/** Builds the view of a model file (not cached: the caller closes `model`). */
export function loadGraph(path: string): OpenGraph {
  if (!/\.onnx$/i.test(path)) throw fileError(path, 'the graph view shows ONNX models only');
  const model = OnnxModel.load(path, { weights: 'on-demand' });
  try {
    const analysis = analyzeAsShown(model);
    const view = buildGraphView(model, analysis.index, analysis.tree, analysis.scan.candidates.map(toCandidateView));
    const protoById = new Map([...nodeAddresses(model.graph.node ?? [])].map(([n, id]) => [id, n] as const));
    return { path, model, analysis, view, nodeById: new Map(view.nodes.map((n) => [n.id, n])), protoById };
  } catch (err) {
    model.close();
    throw err;
  }
}

export function openGraph(path: string): OpenGraph {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw fileError(path, 'file not found');
  }
  const cached = open.get(path);
  // A new Python definition names other modules: the view is rebuilt with it, like a changed file.
  if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size && cached.python === definitionOf(path)) {
    // Most recently used last.
    open.delete(path);
    open.set(path, cached);
    return cached.graph;
  }
  cached?.graph.model.close();
  open.delete(path);
  const graph = loadGraph(path);
  open.set(path, { mtimeMs: st.mtimeMs, size: st.size, python: definitionOf(path), graph });
  while (open.size > KEPT) {
    const [oldest, entry] = open.entries().next().value!;
    entry.graph.model.close();
    open.delete(oldest);
  }
  return graph;
}

/** The tensor behind a node parameter: an initializer or a Constant (possibly relabelled). */
export function paramTensor(g: OpenGraph, name: string): onnx.ITensorProto | undefined {
  return g.analysis.index.initializers.get(name) ?? g.analysis.index.constantTensor(name);
}

/** Parameters with the same name, shape and type are equal when their bytes are (reads both tensors). */
export function bytesEqual(a: OpenGraph, b: OpenGraph): WeightComparer {
  return (x, y) => {
    const tx = paramTensor(a, x.name);
    const ty = paramTensor(b, y.name);
    return tx && ty ? Buffer.from(a.model.tensorBytes(tx)).equals(Buffer.from(b.model.tensorBytes(ty))) : undefined;
  };
}
