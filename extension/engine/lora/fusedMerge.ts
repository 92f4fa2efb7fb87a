/**
 * The hot path of big merges, in JavaScript: W' = W + s·(L·R) for one plain
 * LoRA term, one output row at a time. The product row is accumulated in
 * float64 (8 rank terms per pass) in a row buffer that stays in L1, merged
 * with the decoded base row, checked, rounded once and stored — the full
 * product matrix is never materialised (for 4096×4096 that saves writing and
 * re-reading 64 MB per tensor).
 *
 * L is [m, k], R is [k, n] (k = the rank), W and the result are [m, n].
 */
import { DataType, dtypeName } from '../onnx/dtypes';
import { bfloat16FromFloat32, copyBytes, float16Table, halfFromFloat32, halfWords } from './halfFloat';

export interface FusedResult {
  bytes: Uint8Array;
  baseNorm: number;
  deltaNorm: number;
}

/** Magnitudes at or above these round to infinity in the type. */
export const OVERFLOW_LIMIT: Record<number, number> = {
  [DataType.FLOAT]: 3.4028235677973366e38,
  [DataType.FLOAT16]: 65520,
  [DataType.BFLOAT16]: 3.3961775292304396e38,
  [DataType.DOUBLE]: Infinity,
};

/** Thrown with the flat index of the first merged value that is NaN or too large for the dtype. */
export class NonFiniteError extends Error {
  constructor(readonly index: number, readonly value: number, readonly dtype: number) {
    super(`value ${index} is ${Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? `${value}, beyond ${dtypeName(dtype)}'s range` : value}`);
  }
}

/** acc[0..n) = L[i,:]·R, in float64. */
function productRow(acc: Float64Array, L: Float32Array, R: Float32Array, i: number, k: number, n: number): void {
  acc.fill(0);
  const l = i * k;
  let t = 0;
  for (; t + 8 <= k; t += 8) {
    const a0 = L[l + t], a1 = L[l + t + 1], a2 = L[l + t + 2], a3 = L[l + t + 3];
    const a4 = L[l + t + 4], a5 = L[l + t + 5], a6 = L[l + t + 6], a7 = L[l + t + 7];
    const r0 = t * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n, r4 = r3 + n, r5 = r4 + n, r6 = r5 + n, r7 = r6 + n;
    for (let j = 0; j < n; j++) {
      acc[j] += a0 * R[r0 + j] + a1 * R[r1 + j] + a2 * R[r2 + j] + a3 * R[r3 + j] + a4 * R[r4 + j] + a5 * R[r5 + j] + a6 * R[r6 + j] + a7 * R[r7 + j];
    }
  }
  for (; t + 4 <= k; t += 4) {
    const a0 = L[l + t], a1 = L[l + t + 1], a2 = L[l + t + 2], a3 = L[l + t + 3];
    const r0 = t * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
    for (let j = 0; j < n; j++) acc[j] += a0 * R[r0 + j] + a1 * R[r1 + j] + a2 * R[r2 + j] + a3 * R[r3 + j];
  }
  for (; t < k; t++) {
    const a = L[l + t];
    const r = t * n;
    for (let j = 0; j < n; j++) acc[j] += a * R[r + j];
  }
}

export function fusedMergeSingle(
  baseBytes: Uint8Array,
  dtype: number,
  L: Float32Array,
  R: Float32Array,
  m: number,
  k: number,
  n: number,
  s: number,
): FusedResult {
  const acc = new Float64Array(n);
  return mergeRows(baseBytes, dtype, m, n, s, acc, (i) => productRow(acc, L, R, i, k, n));
}

/** The same merge with the product already computed (e.g. by ONNX Runtime): P is [m, n]. */
export function mergeWithProduct(baseBytes: Uint8Array, dtype: number, P: Float32Array, m: number, n: number, s: number): FusedResult {
  if (P.length !== m * n) throw new RangeError(`product has ${P.length} values for [${m}, ${n}]`);
  return mergeRows(baseBytes, dtype, m, n, s, P, null);
}

/**
 * W + s·(product) for every row. The product is either the whole [m, n] matrix
 * (`fillRow` null) or one row buffer that `fillRow(i)` fills before row i.
 */
function mergeRows(
  baseBytes: Uint8Array,
  dtype: number,
  m: number,
  n: number,
  s: number,
  prod: Float32Array | Float64Array,
  fillRow: ((i: number) => void) | null,
): FusedResult {
  const limit = OVERFLOW_LIMIT[dtype];
  if (limit === undefined) throw new RangeError(`cannot merge into ${dtypeName(dtype)} tensors`);
  const count = m * n;
  const w = new Float64Array(n);
  const f = new Float32Array(n);
  const fbits = new Uint32Array(f.buffer);
  let wsq = 0;
  let dsq = 0;
  let out: Uint8Array;
  // One loop per dtype, everything inline: the row sums are locals (a closure over them costs ~30% here).
  if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) {
    const src = halfWords(baseBytes, count);
    const dst = new Uint16Array(count);
    const table = float16Table();
    const isHalf = dtype === DataType.FLOAT16;
    for (let i = 0; i < m; i++) {
      const o = i * n;
      let po = o;
      if (fillRow) {
        fillRow(i);
        po = 0;
      }
      let rw = 0;
      let rd = 0;
      for (let j = 0; j < n; j++) {
        const h = src[o + j];
        const x = isHalf ? table[h] : bf16Value(h);
        const d = s * prod[po + j];
        const v = x + d;
        if (!(Math.abs(v) < limit)) throw new NonFiniteError(o + j, v, dtype);
        rw += x * x;
        rd += d * d;
        w[j] = v;
        f[j] = v;
      }
      wsq += rw;
      dsq += rd;
      if (isHalf) {
        for (let j = 0; j < n; j++) {
          const bits = fbits[j];
          const e = (bits >>> 23) & 0xff;
          const rem = bits & 0x1fff;
          // Fast path (inline): a normal float16 result whose float32 is not on a tie; everything else goes the careful way.
          if (e > 112 && e < 142 && rem !== 0x1000) {
            // + 1 when rem > half, without a branch (the rounding direction is random data: a branch mispredicts half the time)
            dst[o + j] = (((bits >>> 16) & 0x8000) | ((e - 112) << 10) | ((bits & 0x7fffff) >>> 13)) + ((0x1000 - rem) >>> 31);
          } else {
            dst[o + j] = halfFromFloat32(bits, w[j], f[j]);
          }
        }
      } else {
        for (let j = 0; j < n; j++) dst[o + j] = bfloat16FromFloat32(fbits[j], w[j], f[j]);
      }
    }
    out = new Uint8Array(dst.buffer);
  } else {
    const src = dtype === DataType.FLOAT ? float32View(baseBytes, count) : float64View(baseBytes, count);
    const dst = dtype === DataType.FLOAT ? new Float32Array(count) : new Float64Array(count);
    for (let i = 0; i < m; i++) {
      const o = i * n;
      let po = o;
      if (fillRow) {
        fillRow(i);
        po = 0;
      }
      let rw = 0;
      let rd = 0;
      for (let j = 0; j < n; j++) {
        const x = src[o + j];
        const d = s * prod[po + j];
        const v = x + d;
        if (!(Math.abs(v) < limit)) throw new NonFiniteError(o + j, v, dtype);
        rw += x * x;
        rd += d * d;
        w[j] = v;
      }
      wsq += rw;
      dsq += rd;
      dst.set(w, o); // one rounding per value (to float32, or none for float64)
    }
    out = new Uint8Array(dst.buffer);
  }
  return { bytes: out, baseNorm: Math.sqrt(wsq), deltaNorm: Math.sqrt(dsq) };
}

const bfScratch = new Float32Array(1);
const bfScratchBits = new Uint32Array(bfScratch.buffer);
function bf16Value(h: number): number {
  bfScratchBits[0] = h << 16;
  return bfScratch[0];
}

function float32View(bytes: Uint8Array, count: number): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  return new Float32Array(copyBytes(bytes, count * 4));
}

function float64View(bytes: Uint8Array, count: number): Float64Array {
  if (bytes.byteOffset % 8 === 0) return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  return new Float64Array(copyBytes(bytes, count * 8));
}
