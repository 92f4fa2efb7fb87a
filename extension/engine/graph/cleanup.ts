/**
 * Graph hygiene after an edit (a fold, a merge): remove what no longer
 * contributes to an output, keep names unique, and check that the result is
 * still a valid, topologically ordered graph before anything is written.
 *
 * Removal is seeded: only values an edit released (and what only they kept
 * alive) are removed, so dead code the model already had is left exactly as
 * the user shipped it — a fuse changes what it fused and nothing else.
 */
import { GraphIndex } from './graphIndex';
import { onnx } from '../onnx/proto';

export interface CleanupReport {
  /** Names (or `op_type#index` when unnamed) of nodes removed because nothing read their outputs any more. */
  removedNodes: string[];
  removedInitializers: string[];
  /** graph.input entries dropped together with their initializer (IR < 4 models list initializers as inputs). */
  removedInputs: string[];
  /** value_info entries dropped because their value no longer exists. */
  removedValueInfo: string[];
}

export interface CleanupOptions {
  /** Nodes an edit already decided to remove. */
  removedNodes?: ReadonlySet<onnx.INodeProto>;
  /**
   * Values whose readers changed: each one (and, transitively, whatever only
   * it kept alive) is removed if nothing reads it any more. Omit to sweep the
   * whole graph.
   */
  seeds?: Iterable<string>;
}

/** Removes dead nodes, unused initializers, their input entries and stale value_info, in place. */
export function removeDangling(graph: onnx.IGraphProto, options: CleanupOptions = {}): CleanupReport {
  const report: CleanupReport = { removedNodes: [], removedInitializers: [], removedInputs: [], removedValueInfo: [] };
  const removed = new Set(options.removedNodes ?? []);
  const nodes = graph.node ?? [];
  if (removed.size) graph.node = nodes.filter((n) => !removed.has(n));

  const index = new GraphIndex(graph);
  const uses = new Map<string, number>();
  const useCount = (v: string): number => {
    let n = uses.get(v);
    if (n === undefined) uses.set(v, (n = index.useCount(v)));
    return n;
  };
  const deadNodes = new Set<onnx.INodeProto>();
  const deadInitializers = new Set<string>();
  const work = [...(options.seeds ?? allValues(graph))];
  while (work.length) {
    const v = work.pop()!;
    if (!v || useCount(v) > 0 || index.graphOutputs.has(v)) continue;
    if (index.initializers.has(v)) {
      // A real graph input with a default is part of the model's interface only while something reads it.
      deadInitializers.add(v);
      continue;
    }
    const producer = index.producer.get(v);
    if (!producer || deadNodes.has(producer)) continue;
    const outputsUnused = (producer.output ?? []).every((o) => !o || useCount(o) === 0);
    if (!outputsUnused) continue;
    deadNodes.add(producer);
    for (const input of producer.input ?? []) {
      if (!input) continue;
      uses.set(input, useCount(input) - 1);
      work.push(input);
    }
  }

  if (deadNodes.size) {
    graph.node = (graph.node ?? []).filter((n, i) => {
      if (!deadNodes.has(n)) return true;
      report.removedNodes.push(n.name || `${n.op_type}#${i}`);
      return false;
    });
  }
  if (deadInitializers.size) {
    graph.initializer = (graph.initializer ?? []).filter((t) => {
      if (!deadInitializers.has(t.name ?? '')) return true;
      report.removedInitializers.push(t.name ?? '');
      return false;
    });
    graph.input = (graph.input ?? []).filter((i) => {
      if (!deadInitializers.has(i.name ?? '')) return true;
      report.removedInputs.push(i.name ?? '');
      return false;
    });
  }

  const existing = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) existing.add(o);
  for (const t of graph.initializer ?? []) existing.add(t.name ?? '');
  for (const i of graph.input ?? []) existing.add(i.name ?? '');
  graph.value_info = (graph.value_info ?? []).filter((vi) => {
    if (existing.has(vi.name ?? '')) return true;
    report.removedValueInfo.push(vi.name ?? '');
    return false;
  });
  return report;
}

function allValues(graph: onnx.IGraphProto): string[] {
  const out: string[] = [];
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) out.push(o);
  for (const t of graph.initializer ?? []) out.push(t.name ?? '');
  return out;
}

/**
 * Hands out names that clash with nothing in the graph (values, nodes,
 * initializers, including inside subgraphs, since ONNX names share one scope
 * with the subgraphs that read them).
 */
export class NameAllocator {
  private readonly taken = new Set<string>();

  constructor(graph: onnx.IGraphProto) {
    collectNames(graph, this.taken, 0);
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** `base` itself if free, else `base_1`, `base_2`, …; the name is reserved. */
  take(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }

  /** Marks an existing name as used (e.g. one an edit moved to another node). */
  reserve(name: string): void {
    this.taken.add(name);
  }
}

function collectNames(g: onnx.IGraphProto, into: Set<string>, depth: number): void {
  if (depth > 64) return;
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) if (v.name) into.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) into.add(t.name);
  for (const n of g.node ?? []) {
    if (n.name) into.add(n.name);
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) if (v) into.add(v);
    for (const a of n.attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectNames(sg, into, depth + 1);
  }
}

/**
 * The invariants an edit must keep, checked before writing: every value a
 * node reads exists and is defined before it (ONNX graphs are topologically
 * sorted), every value has one producer, graph outputs exist, node names are
 * not duplicated by the edit. Returns the problems found (empty when sound).
 */
export function checkGraph(graph: onnx.IGraphProto, outerScope: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const defined = new Set<string>(outerScope);
  for (const i of graph.input ?? []) if (i.name) defined.add(i.name);
  for (const t of graph.initializer ?? []) if (t.name) defined.add(t.name);
  const nodeNames = new Set<string>();
  for (const n of graph.node ?? []) {
    const label = n.name || n.op_type || '?';
    for (const i of n.input ?? []) {
      if (i && !defined.has(i)) problems.push(`node '${label}' reads '${i}' before it is defined (or it does not exist)`);
    }
    for (const a of n.attribute ?? []) {
      for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) problems.push(...checkSubgraphReads(sg, defined));
    }
    for (const o of n.output ?? []) {
      if (!o) continue;
      if (defined.has(o)) problems.push(`value '${o}' is produced twice (by node '${label}' and earlier)`);
      defined.add(o);
    }
    if (n.name) {
      if (nodeNames.has(n.name)) problems.push(`node name '${n.name}' is used twice`);
      nodeNames.add(n.name);
    }
  }
  for (const o of graph.output ?? []) if (o.name && !defined.has(o.name)) problems.push(`graph output '${o.name}' is not produced`);
  return problems;
}

/** A subgraph may read outer values; check only that those outer reads exist (its own order is its own business). */
function checkSubgraphReads(g: onnx.IGraphProto, outer: ReadonlySet<string>): string[] {
  const local = new Set<string>([...(g.input ?? []).map((i) => i.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
  const problems: string[] = [];
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i && !local.has(i) && !outer.has(i)) problems.push(`a subgraph reads '${i}', which no longer exists`);
  }
  return problems;
}
