/**
 * The webview's bookkeeping about a drawn graph, kept out of the drawing
 * code: where each node of the model is drawn (itself, or the collapsed
 * module box holding it), which boxes a sequence covers, find matches, and
 * the modules to open so that a node becomes visible.
 */
import type { GraphCatalog, GraphDrawing } from '../../extension/protocol/graphMethods';

export const MODULE_PREFIX = 'module:';

export class DrawnGraph {
  /** node id → drawn item id. */
  readonly repOf = new Map<string, string>();
  /** drawn item id → node ids it stands for. */
  readonly nodesOf = new Map<string, string[]>();

  constructor(readonly catalog: GraphCatalog, readonly drawing: GraphDrawing) {
    const drawn = new Map(drawing.graph.items.map((i) => [i.id, i]));
    const parent = new Map(catalog.modules.map((m) => [m.path, m.parent]));
    for (const n of catalog.nodes) {
      let rep: string | undefined = drawn.has(n.id) ? n.id : undefined;
      if (!rep) {
        for (let p: string | null | undefined = n.box; p !== null && p !== undefined; p = parent.get(p)) {
          if (drawn.get(MODULE_PREFIX + p)?.kind === 'module') rep = MODULE_PREFIX + p;
        }
      }
      if (!rep) continue;
      this.repOf.set(n.id, rep);
      (this.nodesOf.get(rep) ?? this.nodesOf.set(rep, []).get(rep)!).push(n.id);
    }
  }

  /** The drawn items a sequence covers. */
  itemsOfSequence(nodes: readonly string[]): string[] {
    return [...new Set(nodes.map((n) => this.repOf.get(n)).filter((r): r is string => r !== undefined))];
  }
}

/** Nodes matching a query: by node name, module path or op type (case-insensitive substring; an exact op type first). */
export function findNodes(catalog: GraphCatalog, query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const exactOp: string[] = [];
  const other: string[] = [];
  for (const n of catalog.nodes) {
    if (n.op.toLowerCase() === q) exactOp.push(n.id);
    else if (n.id.toLowerCase().includes(q) || n.module.toLowerCase().includes(q) || n.op.toLowerCase().includes(q)) other.push(n.id);
  }
  return [...exactOp, ...other];
}

/** The modules to open so that a node is drawn as itself: its module and every ancestor. */
export function modulesToReveal(catalog: GraphCatalog, nodeId: string): string[] {
  const node = catalog.nodes.find((n) => n.id === nodeId);
  if (!node) return [];
  const parent = new Map(catalog.modules.map((m) => [m.path, m.parent]));
  const out: string[] = [];
  for (let p: string | null | undefined = node.box; p !== null && p !== undefined; p = parent.get(p)) out.push(p);
  return out;
}

/** A module and everything below it (to collapse it completely). */
export function subtreeOf(catalog: GraphCatalog, path: string): string[] {
  return catalog.modules.filter((m) => m.path === path || (path === '' ? true : isBelow(catalog, m.path, path))).map((m) => m.path);
}

function isBelow(catalog: GraphCatalog, module: string, ancestor: string): boolean {
  const parent = new Map(catalog.modules.map((m) => [m.path, m.parent]));
  for (let p = parent.get(module); p !== null && p !== undefined; p = parent.get(p)) if (p === ancestor) return true;
  return false;
}
