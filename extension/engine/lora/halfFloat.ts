/**
 * Fast tensor conversions for the merge loop. A 4096×4096 float16 tensor has
 * 16.7 M values; the exact scalar converters in onnx/dtypes.ts (log2, pow) are
 * correct but ~50× too slow for multi-GB merges, so this file does the same
 * conversions with bit operations:
 *
 * - decode float16 through a 65 536-entry table and bfloat16 by a shift, into
 *   a Float32Array (every float16/bfloat16/float32 value is exact in float32);
 * - encode a float64 to float16/bfloat16 rounding ONCE, to nearest even.
 *   Going through float32 (`Math.fround`) first would round twice; the only
 *   values where that can differ are those whose float32 lands exactly on a
 *   half-way point of the narrow type, and there the float64 itself decides
 *   (above, below, or really on the tie). Tested against dtypes.ts bit for bit.
 */
import { DataType } from '../onnx/dtypes';
import { float16FromBits } from '../onnx/dtypes';

let f16Table: Float32Array | undefined;

export function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) f16Table[b] = float16FromBits(b);
  }
  return f16Table;
}

/** Little-endian tensor bytes (float32/float16/bfloat16) → Float32Array; float64 → Float64Array. */
export function decodeFloatTensor(bytes: Uint8Array, dtype: number, count: number): Float32Array | Float64Array {
  switch (dtype) {
    case DataType.FLOAT: {
      const out = new Float32Array(count);
      new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      return out;
    }
    case DataType.DOUBLE: {
      const out = new Float64Array(count);
      new Uint8Array(out.buffer).set(bytes.subarray(0, count * 8));
      return out;
    }
    case DataType.FLOAT16: {
      const table = float16Table();
      const src = halfWords(bytes, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[src[i]];
      return out;
    }
    case DataType.BFLOAT16: {
      const src = halfWords(bytes, count);
      const out = new Float32Array(count);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u[i] = src[i] << 16;
      return out;
    }
    default:
      throw new RangeError(`dtype ${dtype} is not a float type`);
  }
}

/** A Uint16Array over the bytes (copied only when they are not 2-byte aligned). */
export function halfWords(bytes: Uint8Array, count: number): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  return new Uint16Array(copyBytes(bytes, count * 2));
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** float64 → float16 bits, one rounding to nearest even (same result as dtypes.float16Bits). */
export function float64ToHalfBits(x: number): number {
  scratchF[0] = x;
  return halfFromFloat32(scratchU[0], x, scratchF[0]);
}

/**
 * The float16 of a float64 `x`, given `f` = fround(x) and its bits: the
 * float32 already has the answer unless it sits exactly on a float16 tie,
 * where `x` itself decides. Split out so row encoders can round a whole row to
 * float32 first (a vectorisable pass) and then call this per element.
 */
export function halfFromFloat32(bits: number, x: number, f: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant ? 0x7e00 : sign | 0x7c00;
  const e16 = exp - 112; // exp - 127 + 15
  if (e16 >= 31) return sign | 0x7c00;
  let q: number;
  let rem: number;
  let half: number;
  if (e16 > 0) {
    q = (e16 << 10) | (mant >>> 13);
    rem = mant & 0x1fff;
    half = 0x1000;
  } else {
    if (exp === 0) return sign; // float32 subnormal: far below float16's smallest subnormal
    const shift = 126 - exp; // ≥ 14: value / 2^-24 = m · 2^(exp - 126)
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    q = m >>> shift;
    rem = m & ((1 << shift) - 1);
    half = 1 << (shift - 1);
  }
  if (rem > half || (rem === half && roundsUpOnTie(x, f, q))) q++;
  return sign | q;
}

/** bfloat16 of a float64 `x` from `f` = fround(x) and its bits (see halfFromFloat32). */
export function bfloat16FromFloat32(bits: number, x: number, f: number): number {
  if (((bits >>> 23) & 0xff) === 0xff) return bits & 0x7fffff ? 0x7fc0 : bits >>> 16;
  let q = bits >>> 16;
  const rem = bits & 0xffff;
  if (rem > 0x8000 || (rem === 0x8000 && roundsUpOnTie(x, f, q))) q++;
  return q;
}

/** float64 → bfloat16 bits, one rounding to nearest even (same result as dtypes.bfloat16Bits). */
export function float64ToBfloat16Bits(x: number): number {
  scratchF[0] = x;
  return bfloat16FromFloat32(scratchU[0], x, scratchF[0]);
}

/** The float32 sits exactly half-way: the float64 decides, and a true tie goes to the even neighbour. */
function roundsUpOnTie(x: number, f: number, q: number): boolean {
  const ax = Math.abs(x);
  const af = Math.abs(f);
  if (ax > af) return true;
  if (ax < af) return false;
  return (q & 1) === 1;
}

/** A Float32Array/Float64Array of already-final values → bytes of `dtype` (each value rounded once). */
export function encodeFloatTensor(values: Float32Array | Float64Array, dtype: number): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case DataType.FLOAT: {
      const out = values instanceof Float32Array ? values : Float32Array.from(values);
      return new Uint8Array(out.buffer, out.byteOffset, n * 4);
    }
    case DataType.DOUBLE: {
      const out = values instanceof Float64Array ? values : Float64Array.from(values);
      return new Uint8Array(out.buffer, out.byteOffset, n * 8);
    }
    case DataType.FLOAT16: {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = float64ToHalfBits(values[i]);
      return new Uint8Array(out.buffer);
    }
    case DataType.BFLOAT16: {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = float64ToBfloat16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new RangeError(`dtype ${dtype} is not a float type`);
  }
}

/** A fresh, aligned ArrayBuffer with the first `n` bytes (Buffer#slice would return a view, not a copy). */
export function copyBytes(bytes: Uint8Array, n: number): ArrayBuffer {
  const out = new Uint8Array(n);
  out.set(bytes.subarray(0, n));
  return out.buffer;
}
