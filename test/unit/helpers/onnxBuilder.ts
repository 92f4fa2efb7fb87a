/**
 * The one ONNX graph builder of the tests, in the style of Python's
 * `onnx.helper`: small functions that make protobuf messages (the project's
 * generated classes), which tests assemble and may change before encoding.
 *
 *   const g = makeGraph([makeNode('Relu', ['x'], ['y'], 'relu')], 'g',
 *     [makeValueInfo('x', DataType.FLOAT, [1, 4])], [makeValueInfo('y')]);
 *   writeModel(file, makeModel(g));
 *
 * Differences from onnx.helper, chosen for what the tests need:
 * - makeTensor writes `raw_data` unless `{ raw: false }` (then the typed
 *   fields onnx.helper.make_tensor writes by default);
 * - a JS number is an INT attribute; floats are `{ float: x }` / `{ floats: [...] }`;
 * - makeModel defaults to IR 8, opset 17, producer 'modelfuse-test';
 * - a node's `domain` is only set when given (absent and '' mean the same).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Long from 'long';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { bytesToFloat64, bfloat16Bits, float16Bits, float64ToBytes } from '../../../extension/engine/onnx/dtypes';

export { DataType, AttributeType, onnx };

// ---------------------------------------------------------------- attributes

/**
 * An attribute value. Untagged values are inferred: number → INT,
 * (number | Long)[] → INTS, string → STRING. Everything else is tagged.
 */
export type AttrValue =
  | number
  | readonly (number | Long)[]
  | string
  | { float: number }
  | { floats: readonly number[] }
  | { strings: readonly string[] }
  | { tensor: onnx.ITensorProto }
  | { graph: onnx.IGraphProto }
  | { graphs: readonly onnx.IGraphProto[] }
  | { int: number | Long };

export function makeAttribute(name: string, v: AttrValue): onnx.AttributeProto {
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: Buffer.from(v) });
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: v });
  if (isNumberArray(v)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: [...v] });
  if ('float' in v) return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: v.float });
  if ('floats' in v) return onnx.AttributeProto.create({ name, type: AttributeType.FLOATS, floats: [...v.floats] });
  if ('strings' in v) return onnx.AttributeProto.create({ name, type: AttributeType.STRINGS, strings: v.strings.map((s) => Buffer.from(s)) });
  if ('tensor' in v) return onnx.AttributeProto.create({ name, type: AttributeType.TENSOR, t: v.tensor });
  if ('graph' in v) return onnx.AttributeProto.create({ name, type: AttributeType.GRAPH, g: v.graph });
  if ('graphs' in v) return onnx.AttributeProto.create({ name, type: AttributeType.GRAPHS, graphs: [...v.graphs] });
  return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: v.int });
}

function isNumberArray(v: unknown): v is readonly (number | Long)[] {
  return Array.isArray(v);
}

/** Attributes from a record, in the record's order. */
export function makeAttributes(attrs: Record<string, AttrValue> = {}): onnx.AttributeProto[] {
  return Object.entries(attrs).map(([k, v]) => makeAttribute(k, v));
}

// ---------------------------------------------------------------- nodes

export interface NodeOptions {
  /** Set only when given (absent and '' both mean the default ONNX domain). */
  domain?: string;
  docString?: string;
  /** The node's metadata_props, e.g. dynamo's `pkg.torch.onnx.name_scopes`. */
  metadata?: Record<string, string>;
}

/** A node; `name` '' (or omitted) makes an unnamed node, as onnx.helper.make_node does by default. */
export function makeNode(op: string, inputs: readonly string[], outputs: readonly string[], name = '', attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): onnx.NodeProto {
  return onnx.NodeProto.create({
    name, op_type: op, input: [...inputs], output: [...outputs], attribute: makeAttributes(attrs),
    ...(opts.domain !== undefined ? { domain: opts.domain } : {}),
    ...(opts.docString !== undefined ? { doc_string: opts.docString } : {}),
    ...(opts.metadata ? { metadata_props: makeMetadata(opts.metadata) } : {}),
  });
}

/** metadata_props entries from a record, in its order. */
export function makeMetadata(entries: Record<string, string>): (onnx.StringStringEntryProto & onnx.StringStringEntryProto.$Shape)[] {
  return Object.entries(entries).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
}

// ---------------------------------------------------------------- tensors

export interface TensorOptions {
  /** `raw_data` (default) or the typed fields (float_data, double_data, int64_data, int32_data: float16/bfloat16 bits and small ints). */
  raw?: boolean;
}

/**
 * A tensor of `dtype` with `values` (float64 numbers, rounded once to the
 * type). Typed int64 storage also takes `Long`s (values beyond 2^53).
 */
export function makeTensor(
  name: string,
  dtype: number,
  dims: readonly number[],
  values: ArrayLike<number> | readonly (number | Long)[],
  opts: TensorOptions = {},
): onnx.TensorProto & onnx.TensorProto.$Shape {
  if (opts.raw !== false) {
    return onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: float64ToBytes(values as ArrayLike<number>, dtype) });
  }
  const t = onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims] });
  const nums = () => Array.from(values as ArrayLike<number>);
  switch (dtype) {
    case DataType.FLOAT: t.float_data = nums(); break;
    case DataType.DOUBLE: t.double_data = nums(); break;
    case DataType.FLOAT16: t.int32_data = Array.from(values as ArrayLike<number>, float16Bits); break;
    case DataType.BFLOAT16: t.int32_data = Array.from(values as ArrayLike<number>, bfloat16Bits); break;
    case DataType.INT64: t.int64_data = Array.from(values as ArrayLike<number | Long>); break;
    case DataType.UINT64: t.uint64_data = Array.from(values as ArrayLike<number | Long>); break;
    case DataType.INT32: case DataType.INT16: case DataType.INT8: case DataType.UINT16: case DataType.UINT8: case DataType.BOOL:
      t.int32_data = nums(); break;
    default: throw new Error(`makeTensor: typed storage for dtype ${dtype} is not supported`);
  }
  return t;
}

/** A tensor whose `raw_data` is exactly `bytes` (for malformed or odd-sized data). */
export function makeRawTensor(name: string, dtype: number, dims: readonly number[], bytes: Uint8Array): onnx.TensorProto & onnx.TensorProto.$Shape {
  return onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: bytes });
}

/** Values as `dtype` stores them (rounded once), back in float64. */
export function roundTo(values: ArrayLike<number>, dtype: number): Float64Array {
  return bytesToFloat64(float64ToBytes(values, dtype), dtype, values.length);
}

// ---------------------------------------------------------------- value infos

export type Dim = number | string;

/**
 * A tensor value info; `dims` numbers are dim_value, strings dim_param;
 * without `dims` the shape is unknown; `dtype` null leaves out the type altogether.
 */
export function makeValueInfo(name: string, dtype: number | null = DataType.FLOAT, dims?: readonly Dim[]): onnx.ValueInfoProto & onnx.ValueInfoProto.$Shape {
  if (dtype === null) return onnx.ValueInfoProto.create({ name });
  return onnx.ValueInfoProto.create({
    name,
    type: { tensor_type: { elem_type: dtype, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } : {}) } },
  });
}

// ---------------------------------------------------------------- graphs and models

export function makeGraph(
  nodes: readonly onnx.INodeProto[],
  name: string,
  inputs: readonly onnx.IValueInfoProto[],
  outputs: readonly onnx.IValueInfoProto[],
  initializers: readonly onnx.ITensorProto[] = [],
  valueInfo: readonly onnx.IValueInfoProto[] = [],
): onnx.GraphProto {
  return onnx.GraphProto.create({
    name,
    node: [...nodes],
    input: [...inputs],
    output: [...outputs],
    initializer: [...initializers],
    value_info: [...valueInfo],
  });
}

export function makeOpsetId(domain: string, version: number | Long): onnx.OperatorSetIdProto & onnx.OperatorSetIdProto.$Shape {
  return onnx.OperatorSetIdProto.create({ domain, version });
}

export interface ModelOptions {
  /** Default 8. */
  irVersion?: number;
  /** The default-domain opset (default 17), or the full opset_import list. */
  opset?: number | readonly onnx.IOperatorSetIdProto[];
  /** Default 'modelfuse-test'; null leaves producer_name unset. */
  producerName?: string | null;
  producerVersion?: string;
  /** metadata_props, e.g. dynamo's `pkg.torch.onnx.name_scopes`. */
  metadata?: Record<string, string>;
}

export function makeModel(graph: onnx.IGraphProto, opts: ModelOptions = {}): onnx.ModelProto {
  const opset = opts.opset ?? 17;
  return onnx.ModelProto.create({
    ir_version: opts.irVersion ?? 8,
    ...(opts.producerName !== null ? { producer_name: opts.producerName ?? 'modelfuse-test' } : {}),
    ...(opts.producerVersion !== undefined ? { producer_version: opts.producerVersion } : {}),
    opset_import: typeof opset === 'number' ? [makeOpsetId('', opset)] : [...opset],
    ...(opts.metadata ? { metadata_props: makeMetadata(opts.metadata) } : {}),
    graph,
  });
}

export function encodeModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export interface ExternalData {
  /** The data file, relative to the model's directory (e.g. `weights/w.bin`). */
  location: string;
  /** The initializers whose bytes move there, in graph order. */
  names: string[];
}

/**
 * Writes the model (creating its directory); `external` first moves the named
 * initializers' raw bytes into `<dir>/<location>` (changing `model`).
 */
export function writeModel(file: string, model: onnx.IModelProto, external?: ExternalData): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (external) {
    const dataFile = path.join(path.dirname(file), external.location);
    fs.mkdirSync(path.dirname(dataFile), { recursive: true });
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const t of model.graph!.initializer!) {
      if (!external.names.includes(t.name!)) continue;
      const bytes = Buffer.from(t.raw_data!);
      chunks.push(bytes);
      t.raw_data = new Uint8Array(0);
      t.data_location = onnx.TensorProto.DataLocation.EXTERNAL;
      t.external_data = [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
      offset += bytes.length;
    }
    fs.writeFileSync(dataFile, Buffer.concat(chunks));
  }
  fs.writeFileSync(file, encodeModel(model));
  return file;
}
