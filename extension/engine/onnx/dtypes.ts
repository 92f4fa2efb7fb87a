/**
 * ONNX element types: names, sizes, and exact conversion between stored bytes
 * and float64 for arithmetic. Folds and merges compute in float64 and round
 * once, directly to the tensor's own type (float32, float16 or bfloat16), so a
 * result loses no more than one rounding; going through float32 first would
 * round twice.
 */
import { DataType } from './proto';

export { DataType };

const NAMES: Record<number, string> = {
  0: 'undefined', 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
  8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64',
  15: 'complex128', 16: 'bfloat16', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2',
  20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4', 23: 'float4e2m1', 24: 'float8e8m0', 25: 'uint2', 26: 'int2',
};

/** Bytes per element for the fixed-size types we can read; undefined for strings and sub-byte types. */
const SIZES: Record<number, number> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
  17: 1, 18: 1, 19: 1, 20: 1, 24: 1,
};

export function dtypeName(dtype: number): string {
  return NAMES[dtype] ?? `dtype ${dtype}`;
}

export function dtypeSize(dtype: number): number | undefined {
  return SIZES[dtype];
}

/** Types whose values folds and merges can compute with (read to float64 and write back). */
export function isFloatType(dtype: number): boolean {
  return dtype === DataType.FLOAT || dtype === DataType.DOUBLE || dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16;
}

/** Types we can read as numbers (for statistics, verification inputs, constants). */
export function isNumericType(dtype: number): boolean {
  return isFloatType(dtype) || [2, 3, 4, 5, 6, 7, 9, 12, 13].includes(dtype);
}

export function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

// ---- float16 / bfloat16 <-> float64, exact in both directions ----

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Encode a float64 into a binary float of `expBits`/`mantBits`, rounding once, to nearest even. */
function encodeSmallFloat(x: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const signBit = 1 << (expBits + mantBits);
  const expMask = ((1 << expBits) - 1) << mantBits;
  if (Number.isNaN(x)) return expMask | (1 << (mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | expMask;
  const minNormalExp = 1 - bias;
  if (a < 2 ** minNormalExp) {
    // subnormal: a multiple of 2^(minNormalExp - mantBits); m may round up to the smallest normal, whose bits follow on
    return sign | roundHalfEven(a / 2 ** (minNormalExp - mantBits));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a / 2 ** (e - mantBits));
  if (m === 2 ** (mantBits + 1)) {
    m = 2 ** mantBits;
    e++;
  }
  if (e > bias) return sign | expMask; // overflow to infinity
  return sign | ((e + bias) << mantBits) | (m - 2 ** mantBits);
}

function decodeSmallFloat(bits: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const sign = bits & (1 << (expBits + mantBits)) ? -1 : 1;
  const e = (bits >> mantBits) & ((1 << expBits) - 1);
  const m = bits & ((1 << mantBits) - 1);
  if (e === (1 << expBits) - 1) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - bias - mantBits);
  return sign * (1 + m / 2 ** mantBits) * 2 ** (e - bias);
}

export const float16Bits = (x: number): number => encodeSmallFloat(x, 5, 10);
export const float16FromBits = (b: number): number => decodeSmallFloat(b, 5, 10);
export const bfloat16Bits = (x: number): number => encodeSmallFloat(x, 8, 7);
export const bfloat16FromBits = (b: number): number => (decodeSmallFloat(b, 8, 7));

/** Little-endian bytes of one tensor → float64 values (any numeric type). */
export function bytesToFloat64(bytes: Uint8Array, dtype: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case DataType.FLOAT: for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true); break;
    case DataType.DOUBLE: for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true); break;
    case DataType.FLOAT16: for (let i = 0; i < count; i++) out[i] = float16FromBits(dv.getUint16(i * 2, true)); break;
    case DataType.BFLOAT16: for (let i = 0; i < count; i++) out[i] = bfloat16FromBits(dv.getUint16(i * 2, true)); break;
    case DataType.INT8: for (let i = 0; i < count; i++) out[i] = dv.getInt8(i); break;
    case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < count; i++) out[i] = dv.getUint8(i); break;
    case DataType.INT16: for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, true); break;
    case DataType.UINT16: for (let i = 0; i < count; i++) out[i] = dv.getUint16(i * 2, true); break;
    case DataType.INT32: for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, true); break;
    case DataType.UINT32: for (let i = 0; i < count; i++) out[i] = dv.getUint32(i * 4, true); break;
    case DataType.INT64: for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
    case DataType.UINT64: for (let i = 0; i < count; i++) out[i] = Number(dv.getBigUint64(i * 8, true)); break;
    default: throw new RangeError(`cannot read ${dtypeName(dtype)} values`);
  }
  return out;
}

/** float64 values → little-endian bytes of `dtype`, each value rounded once. */
export function float64ToBytes(values: ArrayLike<number>, dtype: number): Uint8Array {
  const size = dtypeSize(dtype);
  if (size === undefined || !isNumericType(dtype)) throw new RangeError(`cannot write ${dtypeName(dtype)} values`);
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  const n = values.length;
  switch (dtype) {
    case DataType.FLOAT: for (let i = 0; i < n; i++) dv.setFloat32(i * 4, values[i], true); break;
    case DataType.DOUBLE: for (let i = 0; i < n; i++) dv.setFloat64(i * 8, values[i], true); break;
    case DataType.FLOAT16: for (let i = 0; i < n; i++) dv.setUint16(i * 2, float16Bits(values[i]), true); break;
    case DataType.BFLOAT16: for (let i = 0; i < n; i++) dv.setUint16(i * 2, bfloat16Bits(values[i]), true); break;
    case DataType.INT8: for (let i = 0; i < n; i++) dv.setInt8(i, Math.round(values[i])); break;
    case DataType.UINT8: case DataType.BOOL: for (let i = 0; i < n; i++) dv.setUint8(i, Math.round(values[i])); break;
    case DataType.INT16: for (let i = 0; i < n; i++) dv.setInt16(i * 2, Math.round(values[i]), true); break;
    case DataType.UINT16: for (let i = 0; i < n; i++) dv.setUint16(i * 2, Math.round(values[i]), true); break;
    case DataType.INT32: for (let i = 0; i < n; i++) dv.setInt32(i * 4, Math.round(values[i]), true); break;
    case DataType.UINT32: for (let i = 0; i < n; i++) dv.setUint32(i * 4, Math.round(values[i]), true); break;
    case DataType.INT64: for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(Math.round(values[i])), true); break;
    case DataType.UINT64: for (let i = 0; i < n; i++) dv.setBigUint64(i * 8, BigInt(Math.round(values[i])), true); break;
  }
  return out;
}
