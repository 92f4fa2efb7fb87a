/**
 * Pairs the tensors a name cannot pair. A fold or a re-export renames
 * weights (paddle2onnx and tf2onnx name a Constant node's output after the
 * node's position; a fold writes the new kernel as an initializer with a
 * fresh name), so after the fold records and equal names, tensors left over
 * on both sides are matched by, in order:
 *  1. their place: the same Constant node address, or the same reader node
 *     and input slot (`Conv#3` input 1 is the kernel before and after);
 *  2. their content: identical bytes, dtype and shape (a renamed, unchanged weight);
 *  3. their module: the same PyTorch module path, dtype and shape.
 * Each step pairs only one-to-one matches: an ambiguous key pairs nothing.
 */
import { createHash } from 'node:crypto';
import type { ParamSource } from './paramSource';

export interface NamePair {
  after: string;
  before: string | null;
}

/** Fills `before` of the unpaired entries of `pairs` in place; returns how many were paired. */
export function pairByPlace(before: ParamSource, after: ParamSource, pairs: NamePair[], claimed: ReadonlySet<string>): number {
  const free = new Set(before.names().filter((n) => !claimed.has(n)));
  const open = () => pairs.filter((p) => p.before === null && after.info(p.after));
  let paired = 0;
  const take = (p: NamePair, name: string) => {
    p.before = name;
    free.delete(name);
    paired++;
  };
  const strategies: ((s: ParamSource, name: string) => string[])[] = [
    (s, name) => s.placeKeys?.(name) ?? [],
    (s, name) => [`bytes:${signature(s, name)}:${createHash('sha256').update(s.bytes(name)).digest('hex')}`],
    (s, name) => {
      const m = s.moduleOf(name);
      return m ? [`module:${m}:${signature(s, name)}`] : [];
    },
  ];
  for (const keysOf of strategies) {
    const pending = open();
    if (pending.length === 0 || free.size === 0) break;
    const index = new Map<string, string[]>();
    for (const name of free) for (const k of keysOf(before, name)) index.set(k, [...(index.get(k) ?? []), name]);
    const wanted = new Map<string, number>();
    const keysByPair = pending.map((p) => keysOf(after, p.after));
    for (const keys of keysByPair) for (const k of keys) wanted.set(k, (wanted.get(k) ?? 0) + 1);
    pending.forEach((p, i) => {
      for (const k of keysByPair[i]) {
        const candidates = (index.get(k) ?? []).filter((n) => free.has(n));
        if (candidates.length === 1 && wanted.get(k) === 1) {
          take(p, candidates[0]);
          return;
        }
      }
    });
  }
  return paired;
}

function signature(s: ParamSource, name: string): string {
  const info = s.info(name)!;
  return `${info.dtype}[${info.dims.join(',')}]`;
}
