/**
 * The generated ONNX protobuf code (from ./onnx.proto by `npm run gen:proto`),
 * re-exported with short type names. int64 fields decode as `Long` (from the
 * `long` package protobufjs depends on) so that values such as INT64_MAX in a
 * Slice survive a round trip; `toNumber` converts where a JS number is safe.
 */
import './protobufSetup';
import Long from 'long';
import { onnx } from './generated/onnx';

export { onnx };
export type ModelProto = onnx.ModelProto;
export type GraphProto = onnx.GraphProto;
export type NodeProto = onnx.NodeProto;
export type TensorProto = onnx.TensorProto;
export type AttributeProto = onnx.AttributeProto;
export type ValueInfoProto = onnx.ValueInfoProto;
export type IModelProto = onnx.IModelProto;
export type ITensorProto = onnx.ITensorProto;
export type INodeProto = onnx.INodeProto;
export type IAttributeProto = onnx.IAttributeProto;
export type IGraphProto = onnx.IGraphProto;

export const DataType = onnx.TensorProto.DataType;
export const AttributeType = onnx.AttributeProto.AttributeType;

/** An int64 field as a JS number; throws if it cannot be represented exactly. */
export function toNumber(v: number | Long | null | undefined, what = 'integer'): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = Long.isLong(v) ? v.toNumber() : Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} ${v.toString()} is out of range`);
  return n;
}

/** An int64 field as a JS number, clamping huge values (INT64_MAX in Slice ends) instead of throwing. */
export function toNumberClamped(v: number | Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return Long.isLong(v) ? v.toNumber() : Number(v);
}
