/**
 * Which node of one model is which node of another: the alignment behind the
 * Graph tab's diff mode (after a fuse or a merge, and Compare Models…).
 *
 * Two passes, most certain first:
 * 1. by node address — fuse and merge keep the names of the nodes they keep
 *   (a folded Conv stays `/conv1/Conv`), and so does a re-export;
 * 2. by module path, op type and occurrence — the k-th Conv of `layer1.0.conv1`
 *   in A is the k-th in B, whatever the exporter called it.
 * Nodes left over were removed (A only) or added (B only). An aligned pair is
 * `changed` when its parameters differ: another tensor, shape or type, or —
 * when the caller can read weights — other values under the same name.
 */
import type { GraphNode, GraphParam, GraphView } from './graphViewTypes';

export type NodeChange = 'same' | 'changed' | 'removed' | 'added';

export interface AlignedPair {
  a: string;
  b: string;
  /** How the pair was found. */
  by: 'address' | 'module';
  change: 'same' | 'changed';
  /** What differs, in words (`weight conv1.weight → conv1.weight_fused`, `bias added`). */
  details: string[];
}

export interface GraphAlignment {
  pairs: AlignedPair[];
  /** Node ids of A with no counterpart in B, and of B with none in A. */
  removed: string[];
  added: string[];
  /** Per node id: its change, for colouring each side. */
  changeInA: Record<string, NodeChange>;
  changeInB: Record<string, NodeChange>;
}

/** Compares the values of two parameters with the same name, shape and type; undefined = cannot tell (not read). */
export type WeightComparer = (a: GraphParam, b: GraphParam) => boolean | undefined;

export function alignGraphs(a: GraphView, b: GraphView, valuesEqual?: WeightComparer): GraphAlignment {
  const pairs: AlignedPair[] = [];
  const matchedA = new Set<string>();
  const matchedB = new Set<string>();
  const bById = new Map(b.nodes.map((n) => [n.id, n]));

  for (const na of a.nodes) {
    const nb = bById.get(na.id);
    if (!nb || nb.op !== na.op) continue;
    pairs.push(pair(na, nb, 'address', valuesEqual));
    matchedA.add(na.id);
    matchedB.add(nb.id);
  }

  const key = (n: GraphNode, k: number) => `${n.module}\u0000${n.domain}::${n.op}\u0000${k}`;
  const occurrences = (nodes: GraphNode[], matched: Set<string>) => {
    const count = new Map<string, number>();
    const out = new Map<string, GraphNode>();
    for (const n of nodes) {
      if (matched.has(n.id) || n.module === '') continue;
      const base = `${n.module}\u0000${n.op}`;
      const k = count.get(base) ?? 0;
      count.set(base, k + 1);
      out.set(key(n, k), n);
    }
    return out;
  };
  const restB = occurrences(b.nodes, matchedB);
  for (const [k, na] of occurrences(a.nodes, matchedA)) {
    const nb = restB.get(k);
    if (!nb) continue;
    pairs.push(pair(na, nb, 'module', valuesEqual));
    matchedA.add(na.id);
    matchedB.add(nb.id);
  }

  const removed = a.nodes.filter((n) => !matchedA.has(n.id)).map((n) => n.id);
  const added = b.nodes.filter((n) => !matchedB.has(n.id)).map((n) => n.id);
  const changeInA: Record<string, NodeChange> = {};
  const changeInB: Record<string, NodeChange> = {};
  for (const p of pairs) {
    changeInA[p.a] = p.change;
    changeInB[p.b] = p.change;
  }
  for (const id of removed) changeInA[id] = 'removed';
  for (const id of added) changeInB[id] = 'added';
  const order = new Map(a.nodes.map((n, i) => [n.id, i]));
  pairs.sort((x, y) => order.get(x.a)! - order.get(y.a)!);
  return { pairs, removed, added, changeInA, changeInB };
}

function pair(na: GraphNode, nb: GraphNode, by: AlignedPair['by'], valuesEqual?: WeightComparer): AlignedPair {
  const details = paramDifferences(na.params, nb.params, valuesEqual);
  return { a: na.id, b: nb.id, by, change: details.length ? 'changed' : 'same', details };
}

function paramDifferences(pa: readonly GraphParam[], pb: readonly GraphParam[], valuesEqual?: WeightComparer): string[] {
  const out: string[] = [];
  const bySlot = (ps: readonly GraphParam[]) => new Map(ps.map((p) => [p.slot, p]));
  const sa = bySlot(pa);
  const sb = bySlot(pb);
  for (const slot of [...new Set([...sa.keys(), ...sb.keys()])].sort((x, y) => x - y)) {
    const x = sa.get(slot);
    const y = sb.get(slot);
    if (!x) out.push(`input ${slot}: ${y!.name} added`);
    else if (!y) out.push(`input ${slot}: ${x.name} removed`);
    else if (x.name !== y.name) out.push(`input ${slot}: ${x.name} → ${y.name}`);
    else if (x.dtype !== y.dtype || x.dims.join('x') !== y.dims.join('x')) out.push(`${x.name}: ${x.dtype}[${x.dims.join('×')}] → ${y.dtype}[${y.dims.join('×')}]`);
    else if (valuesEqual?.(x, y) === false) out.push(`${x.name}: values changed`);
  }
  return out;
}
