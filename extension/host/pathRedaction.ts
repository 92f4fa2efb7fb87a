/**
 * Absolute paths never reach a webview. In a remote workspace (SSH, WSL, a
 * container, code-server) the webview runs in the user's local UI while the
 * paths name the remote machine's folders: meaningless there, and they tell
 * the page (and any screenshot of it) the user's home and folder layout.
 * Every message a webview gets passes `redactPaths` with the folders it may
 * mention, each replaced by a short readable stand-in. Pure (no vscode).
 */

export interface PathRoot {
  /** An absolute folder, without a trailing separator. */
  folder: string;
  /** What its files are shown under: '' (relative to the workspace), 'name/', '~/'. */
  shownAs: string;
}

/** `value` (JSON-like) with every string's occurrences of the roots' folders replaced, the longest folder first. */
export function redactPaths<T>(value: T, roots: readonly PathRoot[]): T {
  const ordered = roots.filter((r) => r.folder.length > 1).sort((a, b) => b.folder.length - a.folder.length);
  if (ordered.length === 0) return value;
  const pattern = new RegExp(ordered.map((r) => `${escapeRegExp(r.folder)}(?:[\\\\/]|(?![^\\s'"\`),;:]))`).join('|'), 'g');
  const shown = (match: string) => {
    const root = ordered.find((r) => match === r.folder || match.slice(0, -1) === r.folder);
    if (!root) return match;
    // The folder itself (no file after it) is shown as its stand-in without the trailing '/', or '.'.
    return match === root.folder ? root.shownAs.replace(/\/$/, '') || '.' : root.shownAs;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(pattern, shown);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
