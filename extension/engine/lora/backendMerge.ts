/**
 * A single-term merge done by the backend (ONNX Runtime's fused graph), and
 * what the engine still owes around it:
 *
 * - the NaN/Inf check of every merged value before the bytes go anywhere:
 *   a proof from bounds that no value can overflow (see cannotOverflow:
 *   the usual case, costing O((m+n)·k)), else a bit scan of the result (a float16/bfloat16/float32 is non-finite exactly
 *   when its exponent bits are all ones; an overflow of the base dtype became
 *   ±Inf when the sum was rounded). On a hit, the offending value is
 *   recomputed in float64 for the message (e.g. "70000, beyond float16's
 *   range") — the same error the JavaScript path raises.
 * - ‖W‖ from the backend's per-row sums, and ‖ΔW‖ = |s|·‖L·R‖ without the
 *   product: ‖L·R‖² = Σₐᵦ (LᵀL)ₐᵦ·(R·Rᵀ)ₐᵦ, two k×k Gram matrices in float64
 *   (k = the rank), so the report costs O((m+n)·k²), not another pass over
 *   m·n values.
 */
import { DataType } from '../onnx/dtypes';
import { NonFiniteError, OVERFLOW_LIMIT } from './fusedMerge';
import { decodeFloatTensor } from './halfFloat';
import type { MatmulBackend } from './matmulBackend';
import type { BufferPool } from './bufferPool';

export interface BackendMergeResult {
  bytes: Uint8Array;
  baseNorm: number;
  deltaNorm: number;
}

/** The merged tensor, or null when the backend has no fused merge for this dtype. */
export async function mergeSingleByBackend(
  backend: MatmulBackend,
  baseBytes: Uint8Array,
  dtype: number,
  L: Float32Array,
  R: Float32Array,
  m: number,
  k: number,
  n: number,
  scale: number,
  /** Where the result may go (recycled buffers of the streaming merge). */
  pool?: BufferPool,
  /** False when the caller computes ‖ΔW‖ itself (a blockwise merge, once per tensor): `deltaNorm` is then NaN. */
  withDeltaNorm = true,
): Promise<BackendMergeResult | null> {
  if (!backend.mergeSingle) return null;
  const dest = pool && dtype !== DataType.DOUBLE ? pool.take(m * n * bytesPer(dtype)) : undefined;
  const out = await backend.mergeSingle({ base: baseBytes, dtype, L, R, m, k, n, scale, out: dest });
  if (dest && out?.bytes.buffer !== dest.buffer) pool!.give(dest); // not used (e.g. bfloat16, rounded in JS)
  if (!out) return null;
  const bad = cannotOverflow(out.squares.largest, L, R, m, k, n, scale, OVERFLOW_LIMIT[dtype]) ? -1 : firstNonFinite(out.bytes, dtype, m * n);
  if (bad >= 0) {
    const i = Math.floor(bad / n);
    const j = bad % n;
    let p = 0;
    for (let t = 0; t < k; t++) p += L[i * k + t] * R[t * n + j];
    const w = decodeFloatTensor(baseBytes.subarray(bad * bytesPer(dtype)), dtype, 1)[0];
    throw new NonFiniteError(bad, w + scale * p, dtype);
  }
  return { bytes: out.bytes, baseNorm: Math.sqrt(out.squares.total), deltaNorm: withDeltaNorm ? Math.abs(scale) * productNorm(L, R, m, k, n) : NaN };
}

/**
 * True when no merged value can be NaN, ±Inf or beyond the dtype's range, so
 * the result needs no scan. With every chunk sum of W² finite, W is finite and
 * |W[i,j]| ≤ √largest; the factors are finite (checked before the merge), and
 * |s·(L·R)[i,j]| ≤ max_i Σ_t |s·L[i,t]|·max_j |R[t,j]| =: D. So every float32
 * sum is at most (√largest + D) times a rounding factor below 1 + (k+300)·2⁻²³,
 * and if that stays under the overflow limit nothing can overflow (and NaN
 * needs an Inf or a NaN to start from). LoRA deltas are tiny next to the
 * range, so this almost always holds; when it does not, the caller scans.
 */
export function cannotOverflow(
  largest: number,
  L: Float32Array,
  R: Float32Array,
  m: number,
  k: number,
  n: number,
  scale: number,
  limit: number | undefined,
): boolean {
  if (limit === undefined || !Number.isFinite(largest)) return false;
  const rmax = new Float64Array(k);
  for (let t = 0; t < k; t++) {
    let mx = 0;
    for (let j = 0, at = t * n; j < n; j++, at++) {
      const a = Math.abs(R[at]);
      if (a > mx) mx = a;
      else if (a !== a) return false; // NaN
    }
    rmax[t] = mx;
  }
  let d = 0;
  for (let i = 0; i < m; i++) {
    let row = 0;
    for (let t = 0; t < k; t++) row += Math.abs(L[i * k + t]) * rmax[t];
    if (row > d) d = row;
    else if (row !== row) return false; // NaN
  }
  // Rounding slack, generously: the chunk sums (≤ 256 terms), s·L, the rank-k accumulation and the final sum.
  const bound = (Math.sqrt(largest) + Math.abs(scale) * d) * (1 + (k + 300) * 2 ** -23);
  return bound < limit; // false for NaN
}

function bytesPer(dtype: number): number {
  return dtype === DataType.FLOAT ? 4 : dtype === DataType.DOUBLE ? 8 : 2;
}

/** Index of the first NaN/±Inf in `count` values of `dtype`, or -1. */
export function firstNonFinite(bytes: Uint8Array, dtype: number, count: number): number {
  if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) {
    const exp = dtype === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    const unit = dtype === DataType.FLOAT16 ? 0x0400 : 0x0080;
    // Two values per 32-bit word: (exponent bits + one exponent unit) carries into bit 15 exactly when all
    // exponent bits are set. One OR-accumulated pass; the index is searched only after a hit.
    const pairs = bytes.byteOffset % 4 === 0 ? Math.floor(count / 2) : 0;
    const words = pairs ? new Uint32Array(bytes.buffer, bytes.byteOffset, pairs) : new Uint32Array(0);
    const mask = exp * 0x10001;
    const add = unit * 0x10001;
    let acc = 0;
    for (let i = 0; i < pairs; i++) acc |= (words[i] & mask) + add;
    const half = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : new Uint16Array(0);
    const halfAt = (i: number): number => (half.length ? half[i] : bytes[2 * i] | (bytes[2 * i + 1] << 8));
    const from = (acc & 0x80008000) !== 0 ? 0 : 2 * pairs;
    for (let i = from; i < count; i++) if ((halfAt(i) & exp) === exp) return i;
    return -1;
  }
  if (dtype === DataType.FLOAT) {
    const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, count) : new Uint32Array(bytes.slice(0, count * 4).buffer);
    for (let i = 0; i < count; i++) if ((words[i] & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const v = decodeFloatTensor(bytes, dtype, count);
  for (let i = 0; i < count; i++) if (!Number.isFinite(v[i])) return i;
  return -1;
}

/** ‖L·R‖_F in float64 from the Gram matrices LᵀL and R·Rᵀ (both k×k). */
export function productNorm(L: Float32Array, R: Float32Array, m: number, k: number, n: number): number {
  const gl = new Float64Array(k * k);
  for (let i = 0; i < m; i++) {
    const o = i * k;
    for (let a = 0; a < k; a++) {
      const la = L[o + a];
      for (let b = a; b < k; b++) gl[a * k + b] += la * L[o + b];
    }
  }
  let sq = 0;
  for (let a = 0; a < k; a++) {
    const ra = a * n;
    for (let b = a; b < k; b++) {
      const rb = b * n;
      let g = 0;
      for (let j = 0; j < n; j++) g += R[ra + j] * R[rb + j];
      sq += (a === b ? 1 : 2) * gl[a * k + b] * g;
    }
  }
  return Math.sqrt(Math.max(0, sq));
}
