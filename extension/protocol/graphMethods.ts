/**
 * Worker methods of the Graph tab and of "Locate drift" (handlers in
 * extension/workerProcess/handlers/graph.ts): their parameter and result types,
 * named by the method table in workerMethods.ts. Types only. The webview asks for what it draws: the catalog once
 * (for find and the sequence list), a layout per set of expanded modules,
 * one node's details when its panel opens; weights stay in the worker.
 */
import type { SequenceMark, GraphNode, GraphValueInfo } from '../engine/graph/graphViewTypes';
import type { VisibleGraph } from '../engine/graph/graphViewVisible';
import type { GraphLayout } from '../engine/graph/graphLayout';
import type { GraphAlignment } from '../engine/graph/graphAlign';
import type { ParamStats } from '../engine/stats/moduleParamsTypes';
import type { VerifyParams } from './workerProtocol';

export type { SequenceMark, GraphNode, GraphValueInfo, SequenceStatus } from '../engine/graph/graphViewTypes';
export type { VisibleGraph, VisibleItem, VisibleEdge } from '../engine/graph/graphViewVisible';
export type { GraphLayout, PlacedItem, PlacedEdge } from '../engine/graph/graphLayout';
export type { GraphAlignment, NodeChange, AlignedPair } from '../engine/graph/graphAlign';
export type { DriftReport, DriftEntry } from '../engine/graph/driftRank';

export interface GraphOpenParams {
  /** Absolute path of an ONNX model. */
  path: string;
}

/** Everything the webview needs before drawing: small per node (find searches it), no weights. */
export interface GraphCatalog {
  path: string;
  /** id, op type, module and the module box it is drawn in, of every drawn node, in graph order. */
  nodes: { id: string; op: string; module: string; box: string }[];
  modules: { path: string; parent: string | null; total: number }[];
  sequences: SequenceMark[];
  /** Constant / relabelling nodes shown as parameters of their readers. */
  hiddenNodes: number;
  /** The modules expanded when the tab opens (collapsed by module). */
  defaultExpanded: string[];
}

export interface GraphLayoutParams {
  path: string;
  /** Module paths to draw open ('' is always open). */
  expanded: string[];
}

export interface GraphDrawing {
  graph: VisibleGraph;
  layout: GraphLayout;
}

export interface GraphNodeParams {
  path: string;
  /** Node address. */
  node: string;
  /** Histogram bins of the weight statistics (default 64). */
  bins?: number;
}

export interface NodeDetails {
  node: GraphNode;
  /** Attributes as text (`kernel_shape = [3, 3]`; tensors and graphs summarised). */
  attributes: { name: string; value: string }[];
  /** Data inputs and outputs with dtype and shape where the model declares them. */
  inputs: GraphValueInfo[];
  outputs: GraphValueInfo[];
  /** Statistics and histogram per parameter (the Inspector's engine); computed from the weights on demand. */
  params: ParamStats[];
}

export interface GraphDiffParams {
  /** The original (or base) model and the fused (or merged, or other) one. */
  before: string;
  after: string;
}

export interface GraphDiffResult extends GraphAlignment {
  before: string;
  after: string;
}

/** The two models and their inputs as `verify` takes them (an inputs file, or random inputs from shapes / int range / seed). */
export interface LocateDriftParams extends Pick<VerifyParams, 'modelA' | 'modelB' | 'inputs' | 'shapes' | 'intRange' | 'seed'> {
  /** Probes compared per run of each model (bounds the memory of intermediate values; default 32). */
  batch?: number;
}
