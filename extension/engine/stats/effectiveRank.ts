/**
 * Numerical rank of a weight delta ΔW, from its singular values.
 *
 * Small matrices (min side ≤ EXACT_LIMIT): one-sided Jacobi SVD (Hestenes)
 * on the rows of the short side — every singular value, to float64 accuracy.
 * Large ones: a randomized range finder (Halko, Martinsson & Tropp 2011):
 * Y = ΔW·Ω for a seeded Gaussian Ω with k columns, Q = orth(Y), and the
 * singular values of QᵀΔW are ΔW's top k. A LoRA delta has rank ≤ r, so k a
 * little above r captures it exactly; if every one of the k values is above
 * the tolerance, k doubles until it is not (or reaches the matrix size).
 *
 * The tolerance accounts for how the delta was made: ΔW = merged − base,
 * both rounded to the stored dtype, carries rounding noise of about
 * eps(dtype)·|W| per element, whose singular values reach roughly
 * eps·rms(W)·(√m + √n). Values below that are noise, not rank.
 */
import type { EffectiveRank } from './paramDiffTypes';

const EXACT_LIMIT = 64;
const MAX_SWEEPS = 60;
const REPORTED = 32;

export interface RankOptions {
  /** Machine epsilon of the dtype the weights are stored in (float32: 2^-23). */
  dtypeEpsilon: number;
  /** RMS of the stored weight the delta was taken from (sets the rounding-noise floor). */
  weightRms: number;
  /** Expected rank (the adapter's r) to size the random sketch. */
  rankHint?: number;
  seed?: number;
}

/** `delta` is row-major [rows, cols]. */
export function effectiveRank(delta: Float64Array, rows: number, cols: number, o: RankOptions): EffectiveRank {
  if (delta.length !== rows * cols) throw new RangeError(`effectiveRank: ${delta.length} values for [${rows}, ${cols}]`);
  // Work on the short side: M is m×n with m ≤ n (the transpose has the same singular values).
  const transpose = rows > cols;
  const m = transpose ? cols : rows;
  const n = transpose ? rows : cols;
  const rowOf = (i: number): Float64Array => {
    const r = new Float64Array(n);
    if (transpose) for (let j = 0; j < n; j++) r[j] = delta[j * cols + i];
    else r.set(delta.subarray(i * cols, (i + 1) * cols));
    return r;
  };
  const noiseFloor = o.dtypeEpsilon * o.weightRms * (Math.sqrt(m) + Math.sqrt(n));
  const toleranceFor = (sMax: number) => Math.max(sMax * Math.max(m, n) * Number.EPSILON, noiseFloor);

  if (m === 0 || n === 0) return { rank: 0, singularValues: [], tolerance: noiseFloor, method: 'exact', matrix: [rows, cols] };

  if (m <= EXACT_LIMIT) {
    const sv = jacobiSingularValues(Array.from({ length: m }, (_, i) => rowOf(i)));
    return result(sv, toleranceFor(sv[0] ?? 0), 'exact');
  }

  const rowsOfM = Array.from({ length: m }, (_, i) => rowOf(i));
  let k = Math.min(m, Math.max(16, 2 * (o.rankHint ?? 8) + 8));
  for (;;) {
    const sv = sketchSingularValues(rowsOfM, n, k, o.seed ?? 0x5eed);
    const tol = toleranceFor(sv[0] ?? 0);
    const rank = sv.filter((s) => s > tol).length;
    if (rank < k || k >= m) return result(sv, tol, k >= m ? 'exact' : 'randomized');
    k = Math.min(m, 2 * k);
  }

  function result(sv: number[], tolerance: number, method: 'exact' | 'randomized'): EffectiveRank {
    return { rank: sv.filter((s) => s > tolerance).length, singularValues: sv.slice(0, REPORTED), tolerance, method, matrix: [rows, cols] };
  }
}

/**
 * One-sided Jacobi: rotate pairs of vectors until all are mutually
 * orthogonal; their norms are then the singular values of the matrix whose
 * rows they were. Descending.
 */
export function jacobiSingularValues(vectors: Float64Array[]): number[] {
  const v = vectors.map((r) => Float64Array.from(r));
  const k = v.length;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < k - 1; p++) {
      for (let q = p + 1; q < k; q++) {
        const a = v[p];
        const b = v[q];
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let j = 0; j < a.length; j++) {
          alpha += a[j] * a[j];
          beta += b[j] * b[j];
          gamma += a[j] * b[j];
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-14 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let j = 0; j < a.length; j++) {
          const x = a[j];
          const y = b[j];
          a[j] = c * x - s * y;
          b[j] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  return v.map(norm).sort((x, y) => y - x);
}

/** Top-k singular values of M (rows given) through Q = orth(M·Ω), then the SVD of QᵀM. */
function sketchSingularValues(rowsOfM: Float64Array[], n: number, k: number, seed: number): number[] {
  const m = rowsOfM.length;
  const random = gaussian(seed);
  const omega = Array.from({ length: k }, () => Float64Array.from({ length: n }, random)); // columns of Ω
  // Y = M·Ω as k column vectors of length m.
  const y = omega.map((w) => Float64Array.from(rowsOfM, (r) => dot(r, w)));
  const q = orthonormalize(y);
  // B = QᵀM: one row per column of Q, of length n.
  const b = q.map((col) => {
    const row = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      const c = col[i];
      if (c === 0) continue;
      const r = rowsOfM[i];
      for (let j = 0; j < n; j++) row[j] += c * r[j];
    }
    return row;
  });
  return jacobiSingularValues(b);
}

/** Modified Gram–Schmidt, twice for stability; drops vectors that are (numerically) dependent. */
function orthonormalize(vectors: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  const scale = Math.max(...vectors.map(norm), 0);
  for (const v0 of vectors) {
    const v = Float64Array.from(v0);
    for (let pass = 0; pass < 2; pass++) {
      for (const u of out) {
        const d = dot(u, v);
        for (let i = 0; i < v.length; i++) v[i] -= d * u[i];
      }
    }
    const nv = norm(v);
    if (nv > scale * 1e-13 && nv > 0) out.push(v.map((x) => x / nv));
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function norm(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Seeded standard normal numbers (mulberry32 + Box–Muller): the same sketch every run. */
export function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const u = 1 - uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}
