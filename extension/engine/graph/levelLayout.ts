/**
 * One level of the graph drawing (the children of one expanded module) as a
 * layouter takes and returns it: dagre's (graphLayout.ts) or the flat one for
 * very large levels (flatLayout.ts).
 */
export interface LevelGraph {
  nodes: { id: string; width: number; height: number }[];
  edges: { from: string; to: string }[];
}

/** A layout of one level, in its own coordinates (origin top-left). */
export interface LevelLayout {
  positions: Map<string, { x: number; y: number; width: number; height: number }>;
  edges: Map<string, { x: number; y: number }[]>;
  width: number;
  height: number;
}
