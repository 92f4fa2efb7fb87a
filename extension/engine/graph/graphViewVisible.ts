/**
 * What the Graph tab shows for a set of expanded modules: every node of an
 * expanded module is drawn, a collapsed module is one box standing for all
 * nodes below it, and the dataflow edges between drawn items are merged (two
 * values from one collapsed module into one node are one edge). A model of
 * 10,000 nodes collapsed by module is a few dozen boxes, which keeps layout
 * and drawing cheap; expanding one module adds only its contents.
 *
 * Expanded modules other than the root are `group` items: frames the
 * layout places like boxes, with their contents laid out inside
 * (graphLayout.ts).
 *
 * Collapsed by default: only the root is expanded, plus containers that are
 * the only thing at their level (PEFT's `base_model.model`, a `model`
 * wrapper), which would otherwise show one lonely box.
 */
import { INPUT_PREFIX, OUTPUT_PREFIX, type GraphModule, type GraphView, type SequenceStatus } from './graphViewTypes';

export const MODULE_PREFIX = 'module:';

export interface VisibleItem {
  /** A node id, `module:<path>`, `input:<name>` or `output:<name>`. */
  id: string;
  /** `group`: an expanded module, drawn as a frame around its contents; `module`: a collapsed one, one box. */
  kind: 'node' | 'module' | 'group' | 'input' | 'output';
  /** The group (expanded module) it is drawn in, or null at the top level. */
  parent: string | null;
  /** First line: the op type (node), the module name (module), the value name (input/output). */
  label: string;
  /** Second line: module path of a node, `12 nodes` of a module, shape of an input. */
  detail: string;
  /** The module path for modules and nodes ('' for none). */
  module: string;
  /** Sequences touching this item, by id, and the worst status among them (blocked > safe > grouping). */
  sequences: string[];
  status: SequenceStatus | null;
  /** Nodes it stands for (1 for a node, the subtree's count for a module). */
  count: number;
}

export interface VisibleEdge {
  from: string;
  to: string;
  /** The values it carries (the first few: a merged edge can carry hundreds). */
  values: string[];
  count: number;
}

export interface VisibleGraph {
  items: VisibleItem[];
  edges: VisibleEdge[];
  /** The modules that are expanded (after adding the defaults). */
  expanded: string[];
}

const EDGE_VALUES_KEPT = 4;

/** The modules to expand when the user has expanded nothing. */
export function defaultExpanded(view: GraphView): string[] {
  const byPath = new Map(view.modules.map((m) => [m.path, m]));
  const out: string[] = [];
  let m = byPath.get('');
  while (m) {
    out.push(m.path);
    const children = m.children.map((c) => byPath.get(c)!).filter((c) => c.total > 0);
    m = m.nodes.length === 0 && children.length === 1 ? children[0] : undefined;
  }
  return out;
}

export function visibleGraph(view: GraphView, expandedModules: Iterable<string>): VisibleGraph {
  const byPath = new Map(view.modules.map((m) => [m.path, m]));
  const expanded = new Set<string>(['', ...expandedModules]);
  // A module is drawn open only when all its ancestors are open too.
  const isOpen = (m: GraphModule): boolean => expanded.has(m.path) && (m.parent === null || isOpen(byPath.get(m.parent)!));

  const repOf = new Map<string, string>();
  /** The group each drawn node sits in. */
  const parentOfNode = new Map<string, string | null>();
  const items: VisibleItem[] = [];
  const visit = (m: GraphModule, rep: string | null, parent: string | null) => {
    const open = rep === null && isOpen(m);
    let own = rep;
    let inner = parent;
    // An open module with a single node needs no frame: the node is drawn (labelled with its module) in the parent.
    if (open && m.parent !== null && m.total > 1) {
      inner = MODULE_PREFIX + m.path;
      items.push({ id: inner, kind: 'group', parent, label: m.name || m.path, detail: moduleDetail(m), module: m.path, sequences: [], status: null, count: m.total });
    } else if (!open && rep === null && m.total > 1) {
      // A collapsed module is one box; one with a single node in its whole subtree is drawn as that node.
      own = MODULE_PREFIX + m.path;
      items.push({ id: own, kind: 'module', parent, label: m.name || m.path, detail: moduleDetail(m), module: m.path, sequences: [], status: null, count: m.total });
    }
    for (const n of m.nodes) {
      if (own !== null) repOf.set(n, own);
      else parentOfNode.set(n, inner);
    }
    for (const c of m.children) {
      const child = byPath.get(c);
      if (child && child.total > 0) visit(child, own, inner);
    }
  };
  const root = byPath.get('');
  if (root) visit(root, null, null);

  for (const n of view.nodes) {
    if (repOf.has(n.id)) continue;
    repOf.set(n.id, n.id);
    const item: VisibleItem = { id: n.id, kind: 'node', parent: parentOfNode.get(n.id) ?? null, label: n.domain ? `${n.domain}::${n.op}` : n.op, detail: n.module, module: n.module, sequences: [], status: null, count: 1 };
    items.push(item);
  }
  for (const v of view.inputs) {
    repOf.set(INPUT_PREFIX + v.name, INPUT_PREFIX + v.name);
    items.push({ id: INPUT_PREFIX + v.name, kind: 'input', parent: null, label: v.name, detail: shapeText(v.dtype, v.shape), module: '', sequences: [], status: null, count: 0 });
  }
  for (const v of view.outputs) {
    repOf.set(OUTPUT_PREFIX + v.name, OUTPUT_PREFIX + v.name);
    items.push({ id: OUTPUT_PREFIX + v.name, kind: 'output', parent: null, label: v.name, detail: shapeText(v.dtype, v.shape), module: '', sequences: [], status: null, count: 0 });
  }

  const itemById = new Map(items.map((i) => [i.id, i]));
  for (const s of view.sequences) {
    for (const rep of new Set(s.nodes.map((n) => repOf.get(n)).filter((r): r is string => r !== undefined))) {
      const item = itemById.get(rep)!;
      item.sequences.push(s.id);
      item.status = worse(item.status, s.status);
    }
  }

  const merged = new Map<string, VisibleEdge>();
  for (const e of view.edges) {
    const from = repOf.get(e.from);
    const to = repOf.get(e.to);
    if (from === undefined || to === undefined || from === to) continue;
    const key = `${from}\u0000${to}`;
    let edge = merged.get(key);
    if (!edge) merged.set(key, (edge = { from, to, values: [], count: 0 }));
    edge.count++;
    if (edge.values.length < EDGE_VALUES_KEPT) edge.values.push(e.value);
  }
  return { items, edges: [...merged.values()], expanded: [...expanded].filter((p) => byPath.has(p)) };
}

/** Where a node is drawn for a set of expanded modules: itself, or the collapsed module box holding it. */
export function representativeOf(graph: VisibleGraph, view: GraphView, nodeId: string): string | undefined {
  const ids = new Set(graph.items.filter((i) => i.kind !== 'group').map((i) => i.id));
  if (ids.has(nodeId)) return nodeId;
  const node = view.nodes.find((n) => n.id === nodeId);
  if (!node) return undefined;
  // The outermost collapsed ancestor is the drawn box.
  const parentOf = new Map(view.modules.map((m) => [m.path, m.parent]));
  let found: string | undefined;
  for (let p: string | null | undefined = node.box; p !== null && p !== undefined; p = parentOf.get(p)) {
    if (ids.has(MODULE_PREFIX + p)) found = MODULE_PREFIX + p;
  }
  return found;
}

const STATUS_RANK: Record<SequenceStatus, number> = { grouping: 0, safe: 1, blocked: 2 };

function worse(a: SequenceStatus | null, b: SequenceStatus): SequenceStatus {
  return a === null || STATUS_RANK[b] > STATUS_RANK[a] ? b : a;
}

function moduleDetail(m: GraphModule): string {
  const cls = m.className ? m.className.split('.').pop() : null;
  return [cls, `${m.total} node${m.total === 1 ? '' : 's'}`].filter(Boolean).join(' · ');
}

export function shapeText(dtype: string | null, shape: readonly (number | string | null)[] | null): string {
  if (!shape) return dtype ?? '';
  return `${dtype ?? ''}[${shape.map((d) => (d === null ? '?' : d)).join('×')}]`;
}
