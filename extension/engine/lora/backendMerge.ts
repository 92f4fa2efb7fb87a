/**
 * A single-term merge done by the backend (ONNX Runtime's fused graph), and
 * what the engine still owes around it:
 *
 * - the NaN/Inf check of every merged value before the bytes go anywhere:
 *   the backend's per-block sum/min/max of the float32 values before their one
 *   rounding when it has them (NaN/Inf propagate through any sum; min/max show
 *   an overflow of the dtype), else a bit scan of the result (a float16/bfloat16/float32 is non-finite exactly
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
import type { FusedMergeOutput, MatmulBackend } from './matmul';
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
): Promise<BackendMergeResult | null> {
  if (!backend.mergeSingle) return null;
  const dest = pool && dtype !== DataType.DOUBLE ? pool.take(m * n * bytesPer(dtype)) : undefined;
  const out = await backend.mergeSingle({ base: baseBytes, dtype, L, R, m, k, n, scale, out: dest });
  if (dest && out?.bytes.buffer !== dest.buffer) pool!.give(dest); // not used (e.g. bfloat16, rounded in JS)
  if (!out) return null;
  const bad = provenFinite(out.unrounded, OVERFLOW_LIMIT[dtype]) ? -1 : firstNonFinite(out.bytes, dtype, m * n);
  if (bad >= 0) {
    const i = Math.floor(bad / n);
    const j = bad % n;
    let p = 0;
    for (let t = 0; t < k; t++) p += L[i * k + t] * R[t * n + j];
    const w = decodeFloatTensor(baseBytes.subarray(bad * bytesPer(dtype)), dtype, 1)[0];
    throw new NonFiniteError(bad, w + scale * p, dtype);
  }
  let wsq = 0;
  for (let i = 0; i < out.rowSumSquares.length; i++) wsq += out.rowSumSquares[i];
  return { bytes: out.bytes, baseNorm: Math.sqrt(wsq), deltaNorm: Math.abs(scale) * productNorm(L, R, m, k, n) };
}

/** The backend's block summaries prove every rounded value finite (see FusedMergeOutput.unrounded). */
function provenFinite(u: FusedMergeOutput['unrounded'], limit: number | undefined): boolean {
  if (!u || limit === undefined) return false;
  for (let i = 0; i < u.sums.length; i++) {
    if (!Number.isFinite(u.sums[i]) || !(u.max[i] < limit) || !(u.min[i] > -limit)) return false;
  }
  return true;
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
