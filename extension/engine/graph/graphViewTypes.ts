/**
 * The graph view's shapes: what the worker computes from a model (graphView.ts)
 * and the graph webview draws. Plain data, no Node: the webviews' tsconfig
 * checks that.
 */
export type SequenceStatus = 'safe' | 'grouping' | 'blocked';

export interface SequenceMark {
  id: string;
  pattern: string;
  status: SequenceStatus;
  /** Why it is not fused in ONNX (blocked, grouping-only, already folded by the exporter); null when safe. */
  reason: string | null;
  nodes: string[];
  modules: (string | null)[];
  /** As the side panel names it: `conv-bn · conv1 → bn1`, a LoRA branch with `· rank 4 · scale 2`. */
  label: string;
  /** The candidate's warnings, worded (warnings.ts) for the node panel. */
  warnings: string[];
  /** A LoRA branch: the adapted module, rank and scale (as the scan reported them). */
  lora: { module: string | null; rank: string | null; scale: string | null } | null;
}

export interface GraphParam {
  /** The value name (initializer or Constant output) the node reads. */
  name: string;
  /** Input slot of the node. */
  slot: number;
  dims: number[];
  dtype: string;
  source: 'initializer' | 'constant';
}

export interface GraphValueInfo {
  name: string;
  dtype: string | null;
  shape: (number | string | null)[] | null;
}

export interface GraphNode {
  /** The node's address (name, or `Conv#3` when unnamed or duplicated). */
  id: string;
  op: string;
  domain: string;
  /** The module the tree puts it in ('' = none). */
  module: string;
  /** Every module the node stands for (a Conv with an already-folded BN stands for two). */
  modules: string[];
  /** The module box it is drawn in: its module, or the parent of a shared module (see flattenModules). */
  box: string;
  /** Data inputs (not parameters), value names by slot; '' for an omitted optional input. */
  inputs: string[];
  outputs: string[];
  params: GraphParam[];
  /** Ids of the sequences this node is part of. */
  sequences: string[];
}

export interface GraphModule {
  /** '' for the root (the model itself). */
  path: string;
  name: string;
  parent: string | null;
  children: string[];
  /** Visible nodes this module ran directly. */
  nodes: string[];
  /** Visible nodes in this module and all below it. */
  total: number;
  className: string | null;
}

export interface GraphEdge {
  /** Node id, or `input:<name>` for a graph input. */
  from: string;
  /** Node id, or `output:<name>` for a graph output. */
  to: string;
  value: string;
}

export interface GraphView {
  nodes: GraphNode[];
  modules: GraphModule[];
  edges: GraphEdge[];
  inputs: GraphValueInfo[];
  outputs: GraphValueInfo[];
  /** Type and shape of every value the model declares (inputs, outputs, value_info). */
  values: GraphValueInfo[];
  sequences: SequenceMark[];
  /** Nodes not drawn because they only produce parameters (Constant, Identity of a weight, …). */
  hiddenNodes: number;
}

export const INPUT_PREFIX = 'input:';

export const OUTPUT_PREFIX = 'output:';
