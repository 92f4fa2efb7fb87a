/**
 * Every written tensor finite: a fold whose result overflows its type (a
 * BatchNorm with γ = 3e38 folds to Inf in float32) or carries NaN must not be
 * written with exit 0. Checked on the encoded bytes, once per written tensor —
 * a read of memory the fold has just touched anyway.
 */
import { DataType } from '../../onnx/proto';

/** Index of the first Inf/NaN element of `bytes` (little-endian `dtype`), or -1. */
export function firstNonFinite(bytes: Uint8Array, dtype: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case DataType.FLOAT:
      for (let i = 0; i + 4 <= bytes.length; i += 4) if ((view.getUint32(i, true) & 0x7f800000) === 0x7f800000) return i / 4;
      return -1;
    case DataType.DOUBLE:
      for (let i = 0; i + 8 <= bytes.length; i += 8) if ((view.getUint32(i + 4, true) & 0x7ff00000) === 0x7ff00000) return i / 8;
      return -1;
    case DataType.FLOAT16:
      for (let i = 0; i + 2 <= bytes.length; i += 2) if ((view.getUint16(i, true) & 0x7c00) === 0x7c00) return i / 2;
      return -1;
    case DataType.BFLOAT16:
      for (let i = 0; i + 2 <= bytes.length; i += 2) if ((view.getUint16(i, true) & 0x7f80) === 0x7f80) return i / 2;
      return -1;
    default:
      return -1;
  }
}
