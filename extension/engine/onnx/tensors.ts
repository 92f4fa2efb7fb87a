/**
 * Tensor bytes wherever ONNX keeps them: `raw_data` (a view on the file's
 * buffer, never copied), the typed fields (`float_data`, `int32_data`, …), or
 * external data (read on demand by the model's ExternalDataReader).
 */
import Long from 'long';
import { DataType, onnx, toNumber, type ITensorProto } from './proto';
import { bytesToFloat64, dtypeName, dtypeSize, float64ToBytes, numElements } from './dtypes';
import { externalRef } from './externalData';
import { lazyRawDataLength } from './lazyRawData';

export function tensorDims(t: ITensorProto): number[] {
  return (t.dims ?? []).map((d) => toNumber(d as number | Long, 'dimension'));
}

export function tensorElementCount(t: ITensorProto): number {
  return numElements(tensorDims(t));
}

/** Expected byte length for a fixed-size dtype, or undefined (strings, sub-byte types). */
export function expectedByteLength(t: ITensorProto): number | undefined {
  const size = dtypeSize(t.data_type ?? 0);
  return size === undefined ? undefined : tensorElementCount(t) * size;
}

export function isExternal(t: ITensorProto): boolean {
  return t.data_location === 1;
}

/** Bytes of a tensor stored inside the proto (raw_data or typed fields); undefined for external tensors. */
export function embeddedBytes(t: ITensorProto): Uint8Array | undefined {
  if (isExternal(t)) return undefined;
  if (t.raw_data && t.raw_data.length > 0) return t.raw_data;
  const dtype = t.data_type ?? 0;
  const count = tensorElementCount(t);
  switch (dtype) {
    case DataType.FLOAT: return asBytes(Float32Array.from(t.float_data ?? []));
    case DataType.DOUBLE: return asBytes(Float64Array.from(t.double_data ?? []));
    case DataType.INT64: return asBytes(BigInt64Array.from((t.int64_data ?? []).map((v) => BigInt(Long.fromValue(v as Long | number).toString()))));
    case DataType.UINT32: return asBytes(Uint32Array.from((t.uint64_data ?? []).map((v) => toNumber(v as Long | number))));
    case DataType.UINT64:
      return asBytes(BigUint64Array.from((t.uint64_data ?? []).map((v) => BigInt(Long.fromValue(v as Long | number).toUnsigned().toString()))));
    case DataType.INT32: return asBytes(Int32Array.from(t.int32_data ?? []));
    case DataType.INT16: return asBytes(Int16Array.from(t.int32_data ?? []));
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return asBytes(Uint16Array.from(t.int32_data ?? []));
    case DataType.INT8: return asBytes(Int8Array.from(t.int32_data ?? []));
    case DataType.UINT8: case DataType.BOOL: case 17: case 18: case 19: case 20: case 24:
      return Uint8Array.from(t.int32_data ?? []);
    default:
      if (count === 0) return new Uint8Array(0);
      return undefined;
  }
}

function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Number of elements the proto actually stores (for validation against dims). */
export function storedByteLength(t: ITensorProto): number | undefined {
  if (isExternal(t)) return externalRef(t)?.length;
  const pending = lazyRawDataLength(t); // still in the file: its length is known without reading it
  if (pending !== undefined) return pending;
  if (t.raw_data && t.raw_data.length > 0) return t.raw_data.length;
  const b = embeddedBytes(t);
  return b?.length;
}

/** A new float tensor (or any numeric dtype) from float64 values, rounded once to `dtype`. */
export function makeTensor(name: string, dtype: number, dims: readonly number[], values: ArrayLike<number>): onnx.TensorProto {
  if (values.length !== numElements(dims)) {
    throw new RangeError(`tensor '${name}': ${values.length} values do not fit shape [${dims.join(', ')}]`);
  }
  return onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: float64ToBytes(values, dtype) });
}

/** A new tensor from raw little-endian bytes. */
export function makeTensorFromBytes(name: string, dtype: number, dims: readonly number[], bytes: Uint8Array): onnx.TensorProto {
  return onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: bytes });
}

export function describeTensor(t: ITensorProto): string {
  return `${dtypeName(t.data_type ?? 0)}[${tensorDims(t).join(', ')}]`;
}

export { bytesToFloat64 };
