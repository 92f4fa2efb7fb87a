/**
 * Input ambiguity refused, at load: a graph that two programs could read two
 * ways must not be fused — ModelFuse would fold one copy of a duplicated
 * initializer while ONNX Runtime runs the other, and the "verified" model
 * would compute something else.
 *
 * - the same name given to two initializers, produced by two nodes, listed
 *   twice as a graph input, or both an initializer and a node output: refused;
 * - nodes not in topological order (ONNX requires it; some tools write them
 *   shuffled): sorted in memory, stable, so a fused output is in order; a
 *   cycle is refused;
 * - more nodes than the node limit: refused with the count, before any work
 *   that grows with them.
 */
import { fileError } from '../errors';
import type { onnx } from './proto';

/**
 * Default node limit; `MODELFUSE_MAX_NODES` overrides it (0: none). The largest real exports have a few
 * 100 000 nodes; scan costs about 1 KB of memory per node (2 M empty nodes: 1.9 GB), so the limit bounds it near 1 GB.
 */
export const DEFAULT_MAX_NODES = 1_000_000;
export const MAX_NODES_ENV = 'MODELFUSE_MAX_NODES';

export function maxNodes(): number {
  const raw = process.env[MAX_NODES_ENV];
  const n = raw === undefined || raw === '' ? DEFAULT_MAX_NODES : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : DEFAULT_MAX_NODES;
}

/** Refuses ambiguous names and too many nodes; sorts the top-level graph if it is out of order. */
export function checkGraphSanity(graph: onnx.IGraphProto, file: string): void {
  const nodes = graph.node ?? [];
  const limit = maxNodes();
  if (limit > 0 && nodes.length > limit) {
    throw fileError(file, `has ${nodes.length} nodes, more than the limit of ${limit} (set ${MAX_NODES_ENV} to raise it)`);
  }
  const initializers = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (initializers.has(name)) throw fileError(file, `two initializers are named '${name}'; which one a program uses is ambiguous`);
    initializers.add(name);
  }
  const inputs = new Set<string>();
  for (const v of graph.input ?? []) {
    const name = v.name ?? '';
    if (inputs.has(name)) throw fileError(file, `graph input '${name}' is listed twice`);
    inputs.add(name);
  }
  const producedBy = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) {
      if (!o) continue;
      if (producedBy.has(o)) throw fileError(file, `value '${o}' is produced by two nodes ('${label(nodes, producedBy.get(o)!)}' and '${label(nodes, i)}')`);
      if (initializers.has(o)) throw fileError(file, `value '${o}' is both an initializer and the output of node '${label(nodes, i)}'`);
      if (inputs.has(o)) throw fileError(file, `value '${o}' is both a graph input and the output of node '${label(nodes, i)}'`);
      producedBy.set(o, i);
    }
  });
  sortTopologically(graph, producedBy, file);
}

function label(nodes: readonly onnx.INodeProto[], i: number): string {
  return nodes[i].name || `${nodes[i].op_type ?? '?'}#${i}`;
}

/** Every name a node reads, its subgraphs' reads of outer values included (a Loop body reading a value from outside). */
function reads(node: onnx.INodeProto, out: string[] = []): string[] {
  for (const i of node.input ?? []) if (i) out.push(i);
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) for (const n of g?.node ?? []) reads(n, out);
  }
  return out;
}

/** Kahn's algorithm, taking nodes in their original order whenever possible (an already sorted graph is untouched). */
function sortTopologically(graph: onnx.IGraphProto, producedBy: Map<string, number>, file: string): void {
  const nodes = graph.node ?? [];
  let sorted = true;
  const deps: number[][] = nodes.map((n, i) => {
    const d = [...new Set(reads(n).map((name) => producedBy.get(name)).filter((p): p is number => p !== undefined && p !== i))];
    if (d.some((p) => p > i)) sorted = false;
    return d;
  });
  if (sorted) return;
  const waiting = deps.map((d) => d.length);
  const readers: number[][] = nodes.map(() => []);
  deps.forEach((d, i) => d.forEach((p) => readers[p].push(i)));
  // A min-heap would keep the order strictly; a sorted ready list is enough for the sizes that arrive unsorted.
  const ready = waiting.flatMap((w, i) => (w === 0 ? [i] : [])).reverse();
  const order: number[] = [];
  while (ready.length) {
    const i = ready.pop()!;
    order.push(i);
    const freed: number[] = [];
    for (const r of readers[i]) if (--waiting[r] === 0) freed.push(r);
    if (freed.length) {
      ready.push(...freed);
      ready.sort((a, b) => b - a);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = waiting.findIndex((w) => w > 0);
    throw fileError(file, `the graph has a cycle (node '${label(nodes, stuck)}' depends on its own output)`);
  }
  graph.node = order.map((i) => nodes[i]) as onnx.NodeProto[];
}
