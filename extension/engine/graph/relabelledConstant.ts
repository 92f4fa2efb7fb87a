/**
 * Constants behind ops that only relabel a constant's shape: Identity,
 * Reshape, Unsqueeze, Squeeze, Flatten of a constant give the same values in
 * the same order with other dims. Exporters leave them in graphs they did not
 * constant-fold: paddle2onnx unsqueezes a conv bias to [1,C,1,1] before its
 * Add, PyTorch's TorchScript exporter de-duplicates equal parameters through
 * Identity (`layers.1.bn.bias = Identity(layers.0.bn.bias)`). Such a value is
 * a constant for scan and folds alike; the relabelling node becomes dead once
 * the fold stops reading it, and cleanup removes it.
 *
 * The tensor returned shares the source's storage (raw bytes, typed fields or
 * external data reference) under the new dims; no data is copied or read,
 * except the few int64s of a Reshape shape or Unsqueeze/Squeeze axes.
 */
import Long from 'long';
import { DataType, onnx, type ITensorProto } from '../onnx/proto';
import { isExternal, tensorDims } from '../onnx/tensors';

// Local attribute readers: graphIndex.ts imports this file, so importing its helpers back would be circular.
function attrInt(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.i !== undefined && a.i !== null ? Number(a.i.toString()) : dflt;
}

function attrInts(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a?.ints && a.ints.length ? a.ints.map((v) => Number(v.toString())) : undefined;
}

export const RELABELLING_OPS = new Set(['Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten']);

/** Same tensor object for the same node and source, so folds can compare tensors by identity. */
const cache = new WeakMap<onnx.INodeProto, { source: ITensorProto; tensor: ITensorProto }>();

/**
 * The constant `node` outputs, given the constant `source` it reads and a way
 * to read its other constant inputs; undefined when the new dims cannot be
 * known from constants alone.
 */
export function relabelledConstant(
  node: onnx.INodeProto,
  source: ITensorProto,
  constantOf: (value: string) => ITensorProto | undefined,
): ITensorProto | undefined {
  const hit = cache.get(node);
  if (hit && hit.source === source) return hit.tensor;
  const dims = outputDims(node, tensorDims(source), constantOf);
  if (!dims || dims.some((d) => !Number.isSafeInteger(d) || d < 0) || count(dims) !== count(tensorDims(source))) return undefined;
  const tensor = onnx.TensorProto.create({
    name: node.output?.[0] ?? '', dims, data_type: source.data_type,
    float_data: source.float_data, int32_data: source.int32_data, int64_data: source.int64_data, double_data: source.double_data,
    uint64_data: source.uint64_data, string_data: source.string_data,
    data_location: source.data_location, external_data: source.external_data,
  });
  // raw_data is forwarded, not copied: reading it here would load a weight the model may keep in the file until used.
  Object.defineProperty(tensor, 'raw_data', { get: () => source.raw_data, enumerable: true, configurable: true });
  cache.set(node, { source, tensor });
  return tensor;
}

function outputDims(node: onnx.INodeProto, dims: number[], constantOf: (value: string) => ITensorProto | undefined): number[] | undefined {
  const inputs = node.input ?? [];
  const ints = (slot: number): number[] | undefined => {
    const t = inputs[slot] ? constantOf(inputs[slot]) : undefined;
    return t ? int64Values(t) : undefined;
  };
  switch (node.op_type) {
    case 'Identity':
      return dims;
    case 'Flatten': {
      const axis = normalizeAxis(attrInt(node, 'axis', 1), dims.length + 1);
      return axis === undefined ? undefined : [count(dims.slice(0, axis)), count(dims.slice(axis))];
    }
    case 'Reshape': {
      const shape = ints(1);
      return shape ? reshape(dims, shape, attrInt(node, 'allowzero', 0) !== 0) : undefined;
    }
    case 'Unsqueeze': {
      const axes = attrInts(node, 'axes') ?? ints(1);
      if (!axes) return undefined;
      const rank = dims.length + axes.length;
      const at = new Set(axes.map((a) => normalizeAxis(a, rank)));
      if (at.has(undefined) || at.size !== axes.length) return undefined;
      const out: number[] = [];
      let next = 0;
      for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : dims[next++]);
      return out;
    }
    case 'Squeeze': {
      const axes = attrInts(node, 'axes') ?? (inputs[1] ? ints(1) : []);
      if (!axes) return undefined;
      if (axes.length === 0) return dims.filter((d) => d !== 1);
      const at = new Set(axes.map((a) => normalizeAxis(a, dims.length)));
      if (at.has(undefined) || [...at].some((a) => dims[a!] !== 1)) return undefined;
      return dims.filter((_, i) => !at.has(i));
    }
    default:
      return undefined;
  }
}

function reshape(dims: number[], shape: number[], allowZero: boolean): number[] | undefined {
  const out = shape.map((s, i) => (s === 0 && !allowZero ? dims[i] : s));
  const unknown = out.filter((s) => s === -1).length;
  if (unknown > 1 || out.some((s) => s === undefined || s < -1)) return undefined;
  if (unknown === 1) {
    const known = count(out.filter((s) => s !== -1));
    if (known === 0 || count(dims) % known !== 0) return undefined;
    return out.map((s) => (s === -1 ? count(dims) / known : s));
  }
  return out;
}

function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The values of a small embedded int64 tensor (a shape or axes list); undefined for anything else. */
function int64Values(t: ITensorProto): number[] | undefined {
  if ((t.data_type ?? 0) !== DataType.INT64 || isExternal(t)) return undefined;
  const n = count(tensorDims(t));
  if (n > 64) return undefined;
  if (t.raw_data && t.raw_data.length > 0) {
    if (t.raw_data.length !== n * 8) return undefined;
    const view = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
    return Array.from({ length: n }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  const values = (t.int64_data ?? []).map((v) => Long.fromValue(v as Long | number).toNumber());
  return values.length === n ? values : undefined;
}
