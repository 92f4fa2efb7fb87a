/**
 * Two distributions on one axis: before and after share the range, so their
 * bars line up bin for bin. NaN and ±Inf are counted apart (a bin cannot hold
 * them, and they must not stretch the range to infinity).
 */
import type { Histogram } from './paramDiffTypes';

export const DEFAULT_BINS = 64;

export function sharedHistogram(before: ArrayLike<number>, after: ArrayLike<number>, bins = DEFAULT_BINS): Histogram {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`histogram bins must be a positive integer, got ${bins}`);
  let min = Infinity;
  let max = -Infinity;
  for (const a of [before, after]) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  // Infinity would have made min/max infinite; recompute over finite values when that happened.
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = Infinity;
    max = -Infinity;
    for (const a of [before, after]) {
      for (let i = 0; i < a.length; i++) {
        const v = a[i];
        if (Number.isFinite(v)) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
    }
  }
  if (min > max) min = max = 0; // nothing finite at all
  const count = (a: ArrayLike<number>): { counts: number[]; nonFinite: number } => {
    const counts = new Array<number>(bins).fill(0);
    let nonFinite = 0;
    const width = (max - min) / bins;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (!Number.isFinite(v)) {
        nonFinite++;
        continue;
      }
      const b = width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0;
      counts[b]++;
    }
    return { counts, nonFinite };
  };
  const b = count(before);
  const a = count(after);
  return { min, max, before: b.counts, after: a.counts, nonFiniteBefore: b.nonFinite, nonFiniteAfter: a.nonFinite };
}
