/**
 * What VS Code passes to a command, depending on where it was run:
 * - a tree's context menu or inline button: (clicked element, selected elements[]);
 * - the editor title: (resource Uri, { groupId, … });
 * - the Explorer context menu: (clicked Uri, selected Uris[]);
 * - the command palette or a keybinding: nothing.
 * These helpers turn that into what the commands need. Pure (duck-typed
 * URIs and tree elements), so every case is unit-tested.
 */
import type { SelectedItem } from './fuseSelection';

export interface UriLike {
  scheme: string;
  fsPath: string;
}

export function isUriLike(v: unknown): v is UriLike {
  return !!v && typeof v === 'object' && typeof (v as UriLike).scheme === 'string' && typeof (v as UriLike).fsPath === 'string';
}

/** The resource a command was invoked on (editor title, Explorer), if any. */
export function resourceArg(args: readonly unknown[]): UriLike | undefined {
  return isUriLike(args[0]) ? args[0] : undefined;
}

/**
 * The tree elements a context-menu command acts on. VS Code passes the
 * clicked element and the selection; right-clicking an element outside the
 * selection acts on that element alone (as the Explorer does). Without
 * arguments (palette), the views' current selection is used.
 */
export function treeElements(args: readonly unknown[], currentSelection: () => unknown[]): unknown[] {
  const [clicked, selected] = args;
  if (clicked === undefined || clicked === null) return currentSelection();
  if (Array.isArray(selected) && selected.length > 0 && selected.includes(clicked)) return selected;
  return [clicked];
}

/** Module nodes and candidates, told apart by shape (both are plain JSON from the worker). */
export function toSelectedItems(elements: readonly unknown[]): SelectedItem[] {
  const items: SelectedItem[] = [];
  for (const e of elements) {
    if (!e || typeof e !== 'object') continue;
    const o = e as Record<string, unknown>;
    if (typeof o.pattern === 'string' && typeof o.id === 'string' && Array.isArray(o.nodes)) items.push({ kind: 'sequence', id: o.id });
    else if (typeof o.path === 'string' && Array.isArray(o.children) && Array.isArray(o.opTypes)) items.push({ kind: 'module', path: o.path });
  }
  return items;
}

/** Explorer multi-select for Merge LoRA: (clicked, all selected) → the URIs, clicked first. */
export function resourceArgs(args: readonly unknown[]): UriLike[] {
  const [clicked, selected] = args;
  const all = Array.isArray(selected) ? selected.filter(isUriLike) : [];
  if (isUriLike(clicked) && !all.some((u) => u.fsPath === clicked.fsPath)) all.unshift(clicked);
  return all.length ? all : isUriLike(clicked) ? [clicked] : [];
}
