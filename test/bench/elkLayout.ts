/**
 * One level laid out with ELK Layered (elkjs), for the bench that compared it
 * with dagre (graphBench.ts); the extension uses dagre (engine/graph/graphLayout.ts).
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import { edgeKey, type LevelGraph, type LevelLayout } from '../../extension/engine/graph/graphLayout';

export async function layoutLevelWithElk(level: LevelGraph): Promise<LevelLayout> {
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: { 'elk.algorithm': 'layered', 'elk.direction': 'DOWN', 'elk.spacing.nodeNode': '20', 'elk.layered.spacing.nodeNodeBetweenLayers': '36' },
    children: level.nodes.map((n) => ({ id: n.id, width: n.width, height: n.height })),
    edges: level.edges.map((e, k): ElkExtendedEdge => ({ id: `e${k}`, sources: [e.from], targets: [e.to] })),
  };
  const result = await new ELK().layout(graph);
  const positions = new Map((result.children ?? []).map((c) => [c.id, {
    x: (c.x ?? 0) + (c.width ?? 0) / 2,
    y: (c.y ?? 0) + (c.height ?? 0) / 2,
    width: c.width ?? 0,
    height: c.height ?? 0,
  }] as const));
  const edges = new Map((result.edges ?? []).map((e, k) => {
    const s = e.sections?.[0];
    return [edgeKey(level.edges[k].from, level.edges[k].to), s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : []] as const;
  }));
  return { positions, edges, width: result.width ?? 0, height: result.height ?? 0 };
}
