/**
 * A linear-time layered layout for one very large level (thousands of boxes
 * side by side: a model exported without module information): longest-path
 * layering in topological order, one barycentre pass to order each layer,
 * then layers packed left to right and centred. Straight edges. Not as tidy
 * as dagre's network-simplex layout, but a 10,000-node level is laid out in
 * milliseconds instead of tens of seconds, and without recursion (dagre's
 * depth-first passes overflow the stack on chains that long).
 */
import type { LevelGraph, LevelLayout } from './levelLayout';

const NODE_SEP = 20;
const RANK_SEP = 36;

export function flatLayout(level: LevelGraph): LevelLayout {
  const index = new Map(level.nodes.map((n, i) => [n.id, i]));
  const n = level.nodes.length;
  const preds: number[][] = Array.from({ length: n }, () => []);
  const succs: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Int32Array(n);
  for (const e of level.edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (a === undefined || b === undefined || a === b) continue;
    preds[b].push(a);
    succs[a].push(b);
    indegree[b]++;
  }
  // Kahn's order; nodes left on a cycle (not in a valid ONNX graph, but a hostile file may have one) go last.
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) for (const s of succs[order[k]]) if (--indegree[s] === 0) order.push(s);
  const placed = new Uint8Array(n);
  for (const i of order) placed[i] = 1;
  for (let i = 0; i < n; i++) if (!placed[i]) order.push(i);

  const rank = new Int32Array(n);
  const seen = new Uint8Array(n);
  for (const v of order) {
    seen[v] = 1;
    for (const p of preds[v]) if (seen[p]) rank[v] = Math.max(rank[v], rank[p] + 1);
  }
  const ranks: number[][] = [];
  for (const v of order) (ranks[rank[v]] ??= []).push(v);

  // Order each layer by the mean position of its predecessors in the layer above.
  const slot = new Float64Array(n);
  for (const layer of ranks) {
    if (!layer) continue;
    const key = layer.map((v) => (preds[v].length ? preds[v].reduce((s, p) => s + slot[p], 0) / preds[v].length : slot[v]));
    const sorted = layer.map((v, i) => [v, key[i]] as const).sort((a, b) => a[1] - b[1]);
    sorted.forEach(([v], i) => (slot[v] = i));
    layer.splice(0, layer.length, ...sorted.map(([v]) => v));
  }

  const positions: LevelLayout['positions'] = new Map();
  let y = 0;
  let width = 0;
  const rows: { layer: number[]; rowWidth: number; top: number; height: number }[] = [];
  for (const layer of ranks) {
    if (!layer) continue;
    const height = Math.max(...layer.map((v) => level.nodes[v].height));
    const rowWidth = layer.reduce((s, v) => s + level.nodes[v].width, 0) + NODE_SEP * (layer.length - 1);
    rows.push({ layer, rowWidth, top: y, height });
    width = Math.max(width, rowWidth);
    y += height + RANK_SEP;
  }
  for (const r of rows) {
    let x = (width - r.rowWidth) / 2;
    for (const v of r.layer) {
      const node = level.nodes[v];
      positions.set(node.id, { x: x + node.width / 2, y: r.top + r.height / 2, width: node.width, height: node.height });
      x += node.width + NODE_SEP;
    }
  }
  const edges: LevelLayout['edges'] = new Map();
  for (const e of level.edges) {
    const s = positions.get(e.from);
    const t = positions.get(e.to);
    if (s && t) edges.set(`${e.from}\u0000${e.to}`, [{ x: s.x, y: s.y + s.height / 2 }, { x: t.x, y: t.y - t.height / 2 }]);
  }
  return { positions, edges, width, height: Math.max(0, y - RANK_SEP) };
}
