/**
 * How far apart two outputs of the same shape are: the statistics `verify`
 * reports per output. Pure arithmetic on float64 copies of the values, no
 * ONNX Runtime, so it is unit-tested on known arrays.
 *
 * Definitions (a = model A, the reference; b = model B, under test):
 *   abs_i = |a_i − b_i|
 *   rel_i = abs_i / max(|b_i|, REL_FLOOR)           (0 when abs_i = 0)
 *   pass  ⇔ every element has abs_i ≤ atol + rtol·|b_i|   — numpy.allclose(a, b, rtol, atol)
 * Median and p99 are quantiles with linear interpolation between order
 * statistics (numpy's default method). Cosine similarity is over the whole
 * flattened tensor.
 *
 * Non-finite values: an element that is NaN in both, or the same infinity in
 * both, agrees (difference 0). An element that is NaN/±Inf in one and anything
 * else in the other is a NaN/Inf mismatch: it fails the output, is counted, and
 * is left out of the numeric statistics (which would otherwise all be NaN and
 * hide how close the rest is).
 */

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-4, rtol: 1e-3 };

/**
 * Denominator floor for relative differences: where b is exactly 0 the
 * relative difference is abs / 1e-12 (huge, visible), not Infinity (which JSON
 * cannot carry). Pass/fail never depends on it: atol covers values near zero.
 */
export const REL_FLOOR = 1e-12;

export interface DiffStats {
  elements: number;
  /** Null when no element could be compared numerically (every element a NaN/Inf mismatch). */
  max_abs: number | null;
  mean_abs: number | null;
  median_abs: number | null;
  p99_abs: number | null;
  max_rel: number | null;
  mean_rel: number | null;
  median_rel: number | null;
  p99_rel: number | null;
  cosine: number | null;
  /** Elements outside atol + rtol·|b|, NaN/Inf mismatches included. */
  mismatched: number;
  nonfinite_mismatched: number;
  passed: boolean;
}

/** Quantile q ∈ [0, 1] of ascending-sorted values, numpy's 'linear' method. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantile of an empty array');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside [0, 1]`);
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const frac = pos - lo;
  return frac === 0 ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

/** Cosine similarity of two vectors; 1 when both are all zeros, 0 when only one is. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cosine of arrays of length ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return cosineFromSums(dot, na, nb);
}

function cosineFromSums(dot: number, na: number, nb: number): number {
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  // One square root of the product is exact more often (|x|·|−x| gives exactly −1); split it only if the product overflows.
  const prod = na * nb;
  const c = dot / (Number.isFinite(prod) ? Math.sqrt(prod) : Math.sqrt(na) * Math.sqrt(nb));
  return Math.max(-1, Math.min(1, c)); // rounding can push |c| a hair past 1
}

/** True when two non-finite-or-not values are "the same" in the sense above. */
function sameNonFinite(x: number, y: number): boolean {
  return (Number.isNaN(x) && Number.isNaN(y)) || (x === y && !Number.isFinite(x));
}

export function diffStats(a: ArrayLike<number>, b: ArrayLike<number>, tol: Tolerance = DEFAULT_TOLERANCE): DiffStats {
  if (a.length !== b.length) throw new RangeError(`cannot compare ${a.length} elements with ${b.length}`);
  if (!(tol.atol >= 0) || !(tol.rtol >= 0)) throw new RangeError('tolerances must be non-negative numbers');
  const n = a.length;
  const absDiff = new Float64Array(n);
  const relDiff = new Float64Array(n);
  let compared = 0;
  let sumAbs = 0;
  let sumRel = 0;
  let maxAbs = 0;
  let maxRel = 0;
  let mismatched = 0;
  let nonfinite = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (sameNonFinite(x, y)) {
        absDiff[compared] = 0;
        relDiff[compared] = 0;
        compared++;
      } else {
        nonfinite++;
        mismatched++;
      }
      continue;
    }
    dot += x * y;
    na += x * x;
    nb += y * y;
    const d = Math.abs(x - y);
    const ay = Math.abs(y);
    const r = d === 0 ? 0 : d / Math.max(ay, REL_FLOOR);
    if (!(d <= tol.atol + tol.rtol * ay)) mismatched++;
    absDiff[compared] = d;
    relDiff[compared] = r;
    compared++;
    sumAbs += d;
    sumRel += r;
    if (d > maxAbs) maxAbs = d;
    if (r > maxRel) maxRel = r;
  }
  const passed = mismatched === 0;
  if (compared === 0) {
    const empty = n === 0; // an empty output trivially agrees
    return {
      elements: n, max_abs: empty ? 0 : null, mean_abs: empty ? 0 : null, median_abs: empty ? 0 : null, p99_abs: empty ? 0 : null,
      max_rel: empty ? 0 : null, mean_rel: empty ? 0 : null, median_rel: empty ? 0 : null, p99_rel: empty ? 0 : null,
      cosine: empty ? 1 : null, mismatched, nonfinite_mismatched: nonfinite, passed,
    };
  }
  const sortedAbs = absDiff.subarray(0, compared).sort();
  const sortedRel = relDiff.subarray(0, compared).sort();
  return {
    elements: n,
    max_abs: maxAbs,
    mean_abs: sumAbs / compared,
    median_abs: quantileSorted(sortedAbs, 0.5),
    p99_abs: quantileSorted(sortedAbs, 0.99),
    max_rel: maxRel,
    mean_rel: sumRel / compared,
    median_rel: quantileSorted(sortedRel, 0.5),
    p99_rel: quantileSorted(sortedRel, 0.99),
    cosine: cosineFromSums(dot, na, nb),
    mismatched,
    nonfinite_mismatched: nonfinite,
    passed,
  };
}

/** One sentence for a failed output: what went wrong, with the worst element. */
export function failureReason(s: DiffStats, tol: Tolerance): string | undefined {
  if (s.passed) return undefined;
  const parts: string[] = [];
  const numeric = s.mismatched - s.nonfinite_mismatched;
  if (numeric > 0) {
    parts.push(`${numeric} of ${s.elements} elements differ by more than atol ${tol.atol} + rtol ${tol.rtol}·|b| (max abs diff ${fmt(s.max_abs)})`);
  }
  if (s.nonfinite_mismatched > 0) parts.push(`${s.nonfinite_mismatched} elements are NaN/Inf in one model only`);
  return parts.join('; ');
}

function fmt(v: number | null): string {
  return v === null ? 'n/a' : v.toPrecision(3);
}
