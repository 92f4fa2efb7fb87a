/**
 * The shape arithmetic exporters write around a LoRA branch, evaluated on
 * constants: `Shape` of a value whose static shape is known, then
 * `ConstantOfShape`, `Expand`, `Gather`, `Unsqueeze`, `Concat`, `Slice`,
 * `Range`, `Equal`/`Where` (how `torch.eye`, `view(1, -1)` and DoRA's
 * normalisation come out of the TorchScript and dynamo exporters). Once the
 * shapes are known these are constants like any other, so the branch folds.
 */
import { DataType, type onnx } from '../../onnx/proto';
import { attrInt, attrInts, constantAttributeTensor } from '../../graph/graphIndex';
import { tensorDims } from '../../onnx/tensors';
import { binary, broadcastShapes, ndarray, type NdArray } from './ndarray';

export interface ShapeOpValue {
  array: NdArray;
  dtype: number;
}

/** Reads a tensor attribute's values (ConstantOfShape's `value`). */
export type TensorReader = (t: onnx.ITensorProto) => Float64Array;

export const SHAPE_OPS = new Set(['Shape', 'Size', 'ConstantOfShape', 'Expand', 'Gather', 'Concat', 'Slice', 'Range', 'Equal', 'Less', 'Greater', 'Not', 'Where']);

/** `Shape(v)` of a value with dims `dims`, honouring opset 15's start/end. */
export function shapeOf(node: onnx.INodeProto, dims: readonly number[]): ShapeOpValue {
  const rank = dims.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrInt(node, 'start', 0));
  const end = clamp(attrInt(node, 'end', rank));
  const picked = dims.slice(start, Math.max(start, end));
  return { array: ndarray([picked.length], Float64Array.from(picked)), dtype: DataType.INT64 };
}

const ints = (a: NdArray): number[] => Array.from(a.data);

/** One shape-only op on constant inputs, or undefined when `op` is not one of them. */
export function evalShapeOp(node: onnx.INodeProto, inputs: (ShapeOpValue | undefined)[], readTensor: TensorReader): ShapeOpValue | undefined {
  const op = node.op_type ?? '';
  const a = inputs[0];
  switch (op) {
    case 'Shape':
      return a && shapeOf(node, a.array.dims);
    case 'Size':
      return a && { array: ndarray([], Float64Array.of(a.array.data.length)), dtype: DataType.INT64 };
    case 'ConstantOfShape': {
      const dims = a ? ints(a.array) : [];
      const t = constantAttributeTensor(node);
      const fill = t ? readTensor(t)[0] ?? 0 : 0;
      const dtype = t?.data_type ?? DataType.FLOAT;
      if (t && tensorDims(t).reduce((x, y) => x * y, 1) !== 1) throw new RangeError('ConstantOfShape value is not one element');
      return { array: ndarray(dims, new Float64Array(dims.reduce((x, y) => x * y, 1)).fill(fill)), dtype };
    }
    case 'Expand': {
      if (!a || !inputs[1]) return undefined;
      const target = broadcastShapes(a.array.dims, ints(inputs[1].array));
      if (!target) throw new RangeError(`cannot expand [${a.array.dims.join(', ')}] to [${ints(inputs[1].array).join(', ')}]`);
      return { array: expandTo(a.array, target), dtype: a.dtype };
    }
    case 'Gather':
      return a && inputs[1] && { array: gather(a.array, inputs[1].array, attrInt(node, 'axis', 0)), dtype: a.dtype };
    case 'Concat': {
      const parts = inputs.filter((v): v is ShapeOpValue => v !== undefined);
      return parts.length ? { array: concat(parts.map((p) => p.array), attrInt(node, 'axis', 0)), dtype: parts[0].dtype } : undefined;
    }
    case 'Slice':
      return a && { array: slice(node, a.array, inputs.slice(1).map((v) => (v ? ints(v.array) : undefined))), dtype: a.dtype };
    case 'Range': {
      const [start, limit, delta] = inputs.map((v) => v?.array.data[0] ?? 0);
      if (delta === 0) throw new RangeError('Range with delta 0');
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      return a && { array: ndarray([n], Float64Array.from({ length: n }, (_, i) => start + i * delta)), dtype: a.dtype };
    }
    case 'Equal':
    case 'Less':
    case 'Greater': {
      if (!a || !inputs[1]) return undefined;
      const cmp = op === 'Equal' ? (x: number, y: number) => x === y : op === 'Less' ? (x: number, y: number) => x < y : (x: number, y: number) => x > y;
      return { array: binary(a.array, inputs[1].array, (x, y) => (cmp(x, y) ? 1 : 0)), dtype: DataType.BOOL };
    }
    case 'Not':
      return a && { array: { dims: a.array.dims, data: a.array.data.map((x) => (x ? 0 : 1)) }, dtype: DataType.BOOL };
    case 'Where': {
      const [c, x, y] = inputs;
      if (!c || !x || !y) return undefined;
      const cx = broadcastShapes(c.array.dims, x.array.dims);
      const dims = cx && broadcastShapes(cx, y.array.dims);
      if (!dims) throw new RangeError('Where inputs do not broadcast');
      const [cc, xx, yy] = [c, x, y].map((v) => expandTo(v.array, dims).data);
      return { array: ndarray(dims, cc.map((cv, i) => (cv ? xx[i] : yy[i]))), dtype: x.dtype };
    }
    default:
      return undefined;
  }
}

/** `a` broadcast to `dims` (a broadcast of a's shape). */
function expandTo(a: NdArray, dims: number[]): NdArray {
  return binary(a, ndarray(dims, new Float64Array(dims.reduce((x, y) => x * y, 1))), (x) => x);
}

function gather(data: NdArray, indices: NdArray, axisAttr: number): NdArray {
  const rank = data.dims.length;
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const n = data.dims[axis];
  const outer = data.dims.slice(0, axis).reduce((x, y) => x * y, 1);
  const inner = data.dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  const idx = Array.from(indices.data, (i) => {
    const k = i < 0 ? i + n : i;
    if (k < 0 || k >= n) throw new RangeError(`Gather index ${i} is out of range for a dimension of ${n}`);
    return k;
  });
  const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
  const out = new Float64Array(outer * idx.length * inner);
  let p = 0;
  for (let o = 0; o < outer; o++) for (const k of idx) for (let i = 0; i < inner; i++) out[p++] = data.data[(o * n + k) * inner + i];
  return ndarray(dims, out);
}

function concat(parts: NdArray[], axisAttr: number): NdArray {
  const rank = parts[0].dims.length;
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const outer = parts[0].dims.slice(0, axis).reduce((x, y) => x * y, 1);
  const dims = [...parts[0].dims];
  dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
  const out = new Float64Array(dims.reduce((x, y) => x * y, 1));
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const block = p.data.length / outer;
      out.set(p.data.subarray(o * block, (o + 1) * block), w);
      w += block;
    }
  }
  return ndarray(dims, out);
}

/** Slice with starts/ends/axes/steps as inputs (opset 10+) or attributes (opset 1–9). */
function slice(node: onnx.INodeProto, a: NdArray, args: (number[] | undefined)[]): NdArray {
  const rank = a.dims.length;
  const starts = args[0] ?? attrInts(node, 'starts') ?? [];
  const ends = args[1] ?? attrInts(node, 'ends') ?? [];
  const axes = (args[2] ?? attrInts(node, 'axes') ?? starts.map((_, i) => i)).map((x) => (x < 0 ? x + rank : x));
  const steps = args[3] ?? starts.map(() => 1);
  const ranges = a.dims.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((axis, i) => {
    const d = a.dims[axis];
    const step = steps[i];
    if (!step) throw new RangeError('Slice with step 0');
    const norm = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
    const start = step > 0 ? norm(starts[i], 0, d) : norm(starts[i], 0, d - 1);
    const end = step > 0 ? norm(ends[i], 0, d) : norm(ends[i], -1, d - 1);
    const count = Math.max(Math.ceil((end - start) / step), 0);
    ranges[axis] = { start, step, count };
  });
  const dims = ranges.map((r) => r.count);
  const strides = a.dims.map((_, i) => a.dims.slice(i + 1).reduce((x, y) => x * y, 1));
  const out = new Float64Array(dims.reduce((x, y) => x * y, 1));
  const idx = new Array<number>(rank).fill(0);
  for (let p = 0; p < out.length; p++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += (ranges[d].start + idx[d] * ranges[d].step) * strides[d];
    out[p] = a.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return ndarray(dims, out);
}
