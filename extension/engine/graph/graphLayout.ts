/**
 * Positions for a visible graph (graphViewVisible.ts): a layered,
 * top-to-bottom layout as Netron draws ONNX graphs, computed in the worker
 * process so the webview only draws.
 *
 * Hierarchical: every expanded module (a `group`) is laid out on its own —
 * its nodes, collapsed submodules and inner groups, with the edges between
 * them — bottom-up, and then placed in its parent as one box of the size its
 * contents need. Each layout is small (the children of one module), and
 * modules with the same contents (the 32 identical layers of a transformer)
 * share one layout through a cache keyed by their structure. An edge between
 * two groups is laid out between the groups, and drawn from its real source
 * to its real target.
 *
 * The library is @dagrejs/dagre. elkjs (ELK Layered) was measured against it
 * on the same graphs (test/bench/graphBench.ts, numbers in the README):
 * dagre was several times faster on every graph this view lays out, and is
 * synchronous (elkjs runs GWT-compiled Java and only offers a Promise).
 * The ELK variant lives in that bench (test/bench/elkLayout.ts). Neither lays out 10,000 boxes at one
 * level in seconds (both take tens of seconds, and dagre's recursive passes
 * overflow the stack on long chains), so a level with more than
 * FLAT_LAYOUT_ABOVE children — a model without any module information — gets
 * a linear-time longest-path layering instead (flatLayout.ts).
 */
import dagre from '@dagrejs/dagre';
import type { VisibleGraph, VisibleItem } from './graphViewVisible';
import { flatLayout } from './flatLayout';
import type { LevelGraph, LevelLayout } from './levelLayout';
export type { LevelGraph, LevelLayout } from './levelLayout';

export interface PlacedItem {
  id: string;
  /** Centre of the box, and its size, in graph coordinates. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** Polyline from the source box to the target box. */
  points: { x: number; y: number }[];
}

export interface GraphLayout {
  items: PlacedItem[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

const CHAR_WIDTH = 7;
const BOX_HEIGHT = 40;
const MIN_WIDTH = 110;
const MAX_WIDTH = 260;
/** Room for a group's title above its contents, and around them. */
export const GROUP_HEADER = 24;
export const GROUP_PADDING = 12;
export const FLAT_LAYOUT_ABOVE = 1500;

/** Box size from the label lengths (the webview draws 12px text, ~7px per character). */
export function boxSize(item: VisibleItem): { width: number; height: number } {
  const chars = Math.max(item.label.length, Math.min(item.detail.length, 36));
  return { width: Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, chars * CHAR_WIDTH + 20)), height: item.kind === 'module' ? BOX_HEIGHT + 8 : BOX_HEIGHT };
}

export function layoutLevelWithDagre(level: LevelGraph): LevelLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 20, ranksep: 36, edgesep: 8, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of level.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const e of level.edges) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const positions = new Map(level.nodes.map((n) => {
    const p = g.node(n.id);
    return [n.id, { x: p.x, y: p.y, width: n.width, height: n.height }] as const;
  }));
  const edges = new Map(level.edges.map((e) => {
    const points = (g.edge(e.from, e.to)?.points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y }));
    return [edgeKey(e.from, e.to), points] as const;
  }));
  const size = g.graph();
  return { positions, edges, width: size.width ?? 0, height: size.height ?? 0 };
}

export type LevelLayouter = (level: LevelGraph) => LevelLayout;

export function layoutGraph(graph: VisibleGraph, layoutLevel: LevelLayouter = layoutLevelWithDagre): GraphLayout {
  const itemById = new Map(graph.items.map((i) => [i.id, i]));
  const childrenOf = new Map<string | null, VisibleItem[]>();
  for (const i of graph.items) (childrenOf.get(i.parent) ?? childrenOf.set(i.parent, []).get(i.parent)!).push(i);
  const chain = (id: string): string[] => {
    const out: string[] = [];
    for (let c: string | null = id; c !== null; c = itemById.get(c)?.parent ?? null) out.push(c);
    return out.reverse();
  };
  // Each edge is laid out in the innermost group holding both ends, between the ends' ancestors there.
  const levelEdges = new Map<string | null, Map<string, { from: string; to: string }>>();
  for (const e of graph.edges) {
    const a = chain(e.from);
    const b = chain(e.to);
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    if (k >= a.length || k >= b.length) continue; // an edge into or out of its own group: drawn, not laid out
    const container = k === 0 ? null : a[k - 1];
    const edges = levelEdges.get(container) ?? levelEdges.set(container, new Map()).get(container)!;
    edges.set(edgeKey(a[k], b[k]), { from: a[k], to: b[k] });
  }

  const cache = new Map<string, LevelLayout>();
  const levels = new Map<string | null, LevelLayout>();
  const sizes = new Map<string, { width: number; height: number }>();
  const layoutOf = (container: string | null): LevelLayout => {
    const children = childrenOf.get(container) ?? [];
    for (const c of children) {
      if (c.kind !== 'group') {
        sizes.set(c.id, boxSize(c));
        continue;
      }
      const inner = layoutOf(c.id);
      sizes.set(c.id, { width: Math.max(inner.width + 2 * GROUP_PADDING, boxSize(c).width), height: inner.height + GROUP_HEADER + 2 * GROUP_PADDING });
    }
    const local = new Map(children.map((c, i) => [c.id, `n${i}`]));
    const level: LevelGraph = {
      nodes: children.map((c) => ({ id: local.get(c.id)!, ...sizes.get(c.id)! })),
      edges: [...(levelEdges.get(container)?.values() ?? [])].map((e) => ({ from: local.get(e.from)!, to: local.get(e.to)! })),
    };
    // Same sizes and same wiring → same drawing: identical blocks are laid out once.
    const key = JSON.stringify(level);
    let result = cache.get(key);
    if (!result) {
      result = level.nodes.length > FLAT_LAYOUT_ABOVE ? flatLayout(level) : layoutLevel(level);
      cache.set(key, result);
    }
    const global = new Map([...local].map(([id, l]) => [l, id]));
    const positions = new Map([...result.positions].map(([l, p]) => [global.get(l)!, p]));
    const edges = new Map([...result.edges].map(([k, pts]) => {
      const [f, t] = k.split('\u0000');
      return [edgeKey(global.get(f)!, global.get(t)!), pts] as const;
    }));
    const placed: LevelLayout = { positions, edges, width: result.width, height: result.height };
    levels.set(container, placed);
    return placed;
  };
  const top = layoutOf(null);

  const MARGIN = 16;
  const items: PlacedItem[] = [];
  const origin = new Map<string | null, { x: number; y: number }>([[null, { x: MARGIN, y: MARGIN }]]);
  const place = (container: string | null) => {
    const o = origin.get(container)!;
    for (const [id, p] of levels.get(container)!.positions) {
      const x = o.x + p.x;
      const y = o.y + p.y;
      items.push({ id, x, y, width: p.width, height: p.height });
      if (itemById.get(id)?.kind === 'group') {
        origin.set(id, { x: x - p.width / 2 + (p.width - levels.get(id)!.width) / 2, y: y - p.height / 2 + GROUP_HEADER + GROUP_PADDING });
        place(id);
      }
    }
  };
  place(null);

  const at = new Map(items.map((i) => [i.id, i]));
  const edges: PlacedEdge[] = graph.edges.map((e) => {
    const s = at.get(e.from)!;
    const t = at.get(e.to)!;
    const container = s && t && itemById.get(e.from)!.parent === itemById.get(e.to)!.parent ? itemById.get(e.from)!.parent : undefined;
    const laid = container !== undefined ? levels.get(container)?.edges.get(edgeKey(e.from, e.to)) : undefined;
    if (laid && laid.length) {
      const o = origin.get(container!)!;
      return { from: e.from, to: e.to, points: laid.map((p) => ({ x: p.x + o.x, y: p.y + o.y })) };
    }
    return { from: e.from, to: e.to, points: [{ x: s.x, y: s.y + s.height / 2 }, { x: t.x, y: t.y - t.height / 2 }] };
  });
  return { items, edges, width: top.width + 2 * MARGIN, height: top.height + 2 * MARGIN };
}

export function edgeKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
