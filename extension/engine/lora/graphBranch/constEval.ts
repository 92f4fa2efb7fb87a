/**
 * Evaluates a value of the graph as a constant, in float64, when everything
 * it depends on is constant: initializers, Constant nodes and the small
 * subgraphs exporters build from them (`Transpose` of a weight, a DoRA weight
 * norm computed from the base weight and the low-rank product). Anything
 * that depends on a graph input, or an op we do not know, is "not constant",
 * with the value that made it so — the reason a DoRA branch stays unfolded.
 */
import type { OnnxModel } from '../../onnx/model';
import { DataType, onnx } from '../../onnx/proto';
import { float16Bits, float16FromBits, bfloat16Bits, bfloat16FromBits, isNumericType } from '../../onnx/dtypes';
import { tensorDims } from '../../onnx/tensors';
import { attrInt, attrInts, type GraphIndex } from '../../graph/graphIndex';
import { binary, matmul, ndarray, reduce, resolveReshape, transpose, unary, type NdArray } from './ndarray';
import { evalShapeOp, shapeOf, SHAPE_OPS, type TensorReader } from './shapeOps';

/** Static shapes of run-time values: what makes `Shape(x)` a constant. */
export interface ShapeSource {
  shapeOf(value: string): number[] | undefined;
}

export interface ConstValue {
  array: NdArray;
  /** Element type the graph gives this value (for Cast no-op checks and rounding). */
  dtype: number;
}

export type ConstResult = { ok: true; value: ConstValue } | { ok: false; why: string };

/** Shape and type of a constant value, known without reading its data. */
export interface ConstInfo {
  dims: number[];
  dtype: number;
}

export type ConstInfoResult = { ok: true; value: ConstInfo } | { ok: false; why: string };

/** Ops whose output shape follows from input shapes alone: `info` walks them without reading weights. */
const SHAPE_ONLY = new Set(['Identity', 'Cast', 'Transpose']);

const MAX_DEPTH = 64;

export class ConstEvaluator {
  private readonly memo = new Map<string, ConstResult>();
  private readonly infoMemo = new Map<string, ConstInfoResult>();
  private readonly constMemo = new Map<string, Constness>();

  private shapes: ShapeSource | undefined;

  constructor(private readonly model: OnnxModel, private readonly index: GraphIndex) {}

  /** Lets `Shape` of a run-time value with a static shape count as a constant (set once, before any question). */
  useShapes(shapes: ShapeSource): void {
    this.shapes = shapes;
  }

  /** The static shape a `Shape`/`Size` node reads when its input is a run-time value. */
  private staticInputShape(node: onnx.INodeProto): number[] | undefined {
    if ((node.domain ?? '') !== '' || (node.op_type !== 'Shape' && node.op_type !== 'Size')) return undefined;
    const input = node.input?.[0] ?? '';
    return input ? this.shapes?.shapeOf(input) : undefined;
  }

  /**
   * Whether a value is constant, decided from the graph's structure alone:
   * no tensor is read. Values on the model's data path fail at the first
   * graph input they reach, so asking about them is cheap and never
   * evaluates (or reads) a weight on the way.
   */
  constness(value: string, depth = 0): Constness {
    const known = this.constMemo.get(value);
    if (known) return known;
    const result = this.computeConstness(value, depth);
    this.constMemo.set(value, result);
    return result;
  }

  private computeConstness(value: string, depth: number): Constness {
    if (this.index.constantTensor(value)) return { ok: true };
    if (this.index.graphInputs.has(value) || this.index.initializers.has(value)) {
      return { ok: false, why: `'${value}' is a graph input (set at run time)` };
    }
    const node = this.index.producer.get(value);
    if (!node) return { ok: false, why: `'${value}' has no producer` };
    if (depth > MAX_DEPTH) return { ok: false, why: `'${value}' is computed by a chain too deep to evaluate` };
    // The shape of a run-time value is a constant once that shape is static.
    if ((node.op_type === 'Shape' || node.op_type === 'Size') && (node.domain ?? '') === '' && this.constness(node.input?.[0] ?? '', depth + 1).ok !== true) {
      return this.staticInputShape(node)
        ? { ok: true }
        : { ok: false, why: `'${value}' is computed by ${node.op_type} '${node.name ?? ''}' of '${node.input?.[0]}', whose shape is not static` };
    }
    const inputs = (node.input ?? []).filter((i) => i);
    // Graph inputs first: the common non-constant case is decided without recursing.
    const runtime = inputs.find((i) => this.index.graphInputs.has(i));
    if (runtime) return { ok: false, why: `'${runtime}' is a graph input (set at run time)` };
    for (const inp of inputs) {
      const r = this.constness(inp, depth + 1);
      if (!r.ok) return r;
    }
    if ((node.domain ?? '') !== '' || !EVALUATED.has(node.op_type ?? '')) {
      return { ok: false, why: `'${value}' is computed by ${node.op_type} '${node.name ?? ''}', which ModelFuse does not evaluate` };
    }
    return { ok: true };
  }

  /** A constant value in float64 (reads and computes it), or why it is not constant. */
  evaluate(value: string, depth = 0): ConstResult {
    const known = this.memo.get(value);
    if (known) return known;
    const c = this.constness(value, depth);
    const result = c.ok ? this.compute(value, depth) : c;
    this.memo.set(value, result);
    return result;
  }

  /**
   * Whether a value is constant, with its shape and type, reading no tensor
   * data for initializers, Constant nodes and Identity/Cast/Transpose of them
   * (so scanning a model with gigabytes of weights reads only its graph).
   */
  info(value: string, depth = 0): ConstInfoResult {
    const known = this.infoMemo.get(value);
    if (known) return known;
    const c = this.constness(value, depth);
    const result = c.ok ? this.computeInfo(value, depth) : c;
    this.infoMemo.set(value, result);
    return result;
  }

  private computeInfo(value: string, depth: number): ConstInfoResult {
    const done = this.memo.get(value);
    if (done) return done.ok ? { ok: true, value: { dims: done.value.array.dims, dtype: done.value.dtype } } : done;
    const t = this.index.constantTensor(value);
    if (t) return { ok: true, value: { dims: tensorDims(t), dtype: t.data_type ?? 0 } };
    const node = this.index.producer.get(value);
    if (node && SHAPE_ONLY.has(node.op_type ?? '') && depth <= MAX_DEPTH) {
      const inner = this.info(node.input?.[0] ?? '', depth + 1);
      if (!inner.ok) return inner;
      if (node.op_type === 'Cast') return { ok: true, value: { dims: inner.value.dims, dtype: attrInt(node, 'to', 0) } };
      if (node.op_type === 'Transpose') {
        const d = inner.value.dims;
        const perm = attrInts(node, 'perm') ?? d.map((_, i) => d.length - 1 - i);
        return { ok: true, value: { dims: perm.map((p) => d[p]), dtype: inner.value.dtype } };
      }
      return inner;
    }
    const r = this.evaluate(value, depth);
    return r.ok ? { ok: true, value: { dims: r.value.array.dims, dtype: r.value.dtype } } : r;
  }

  private compute(value: string, depth: number): ConstResult {
    const t = this.index.constantTensor(value);
    if (t) {
      const dtype = t.data_type ?? 0;
      if (!isNumericType(dtype)) return { ok: false, why: `'${value}' is not numeric` };
      return { ok: true, value: { array: ndarray(tensorDims(t), this.model.tensorValues(t)), dtype } };
    }
    const node = this.index.producer.get(value);
    if (!node) return { ok: false, why: `'${value}' has no producer` };
    const staticDims = this.staticInputShape(node);
    if (staticDims && !this.constness(node.input?.[0] ?? '', depth + 1).ok) {
      const s = shapeOf(node, staticDims);
      return { ok: true, value: node.op_type === 'Size' ? { array: ndarray([], Float64Array.of(staticDims.reduce((a, b) => a * b, 1))), dtype: DataType.INT64 } : s };
    }
    // Optional inputs left empty keep their position (Slice's axes/steps).
    const inputs: (ConstValue | undefined)[] = [];
    for (const inp of node.input ?? []) {
      if (!inp) {
        inputs.push(undefined);
        continue;
      }
      const r = this.evaluate(inp, depth + 1);
      if (!r.ok) return r;
      inputs.push(r.value);
    }
    try {
      const out = evalNode(node, inputs, (t) => this.model.tensorValues(t));
      return out ? { ok: true, value: out } : { ok: false, why: `'${value}' is computed by ${node.op_type} '${node.name ?? ''}', which ModelFuse does not evaluate` };
    } catch (err) {
      return { ok: false, why: `'${value}': ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}

export type Constness = { ok: true } | { ok: false; why: string };

const BINARY: Record<string, (x: number, y: number) => number> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y) => x / y,
  Pow: (x, y) => x ** y,
  Max: (x, y) => Math.max(x, y),
  Min: (x, y) => Math.min(x, y),
};

const UNARY: Record<string, (x: number) => number> = {
  Identity: (x) => x,
  Sqrt: Math.sqrt,
  Neg: (x) => -x,
  Reciprocal: (x) => 1 / x,
  Abs: Math.abs,
};

/** Every op evalNode knows (the constness check refuses others without reading anything). */
const EVALUATED = new Set([
  ...Object.keys(BINARY), ...Object.keys(UNARY), 'Cast', 'Transpose', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'MatMul', 'Shape', 'EyeLike',
  'ReduceSum', 'ReduceL2', 'ReduceSumSquare', ...SHAPE_OPS,
]);

/** One node on constant inputs; undefined for ops we do not evaluate. */
function evalNode(node: onnx.INodeProto, all: (ConstValue | undefined)[], readTensor: TensorReader): ConstValue | undefined {
  if ((node.domain ?? '') !== '') return undefined;
  const op = node.op_type ?? '';
  if (SHAPE_OPS.has(op)) return evalShapeOp(node, all, readTensor);
  const inputs = all.filter((v): v is ConstValue => v !== undefined);
  const a = inputs[0];
  if (op in BINARY && inputs.length === 2) return { array: binary(a.array, inputs[1].array, BINARY[op]), dtype: a.dtype };
  if (op in UNARY && inputs.length === 1) return { array: unary(a.array, UNARY[op]), dtype: a.dtype };
  switch (op) {
    case 'Cast': {
      const to = attrInt(node, 'to', 0);
      return { array: unary(a.array, roundTo(to)), dtype: to };
    }
    case 'Transpose':
      return { array: transpose(a.array, attrInts(node, 'perm')), dtype: a.dtype };
    case 'Reshape': {
      const dims = resolveReshape(a.array.dims, Array.from(inputs[1].array.data), attrInt(node, 'allowzero', 0) === 1);
      if (!dims) throw new RangeError(`cannot reshape [${a.array.dims.join(', ')}] to [${Array.from(inputs[1].array.data).join(', ')}]`);
      return { array: { dims, data: a.array.data }, dtype: a.dtype };
    }
    case 'Unsqueeze': {
      const axes = attrInts(node, 'axes') ?? (inputs[1] ? Array.from(inputs[1].array.data) : []);
      const rank = a.array.dims.length + axes.length;
      const norm = new Set(axes.map((x) => (x < 0 ? x + rank : x)));
      const dims: number[] = [];
      let src = 0;
      for (let i = 0; i < rank; i++) dims.push(norm.has(i) ? 1 : a.array.dims[src++]);
      return { array: { dims, data: a.array.data }, dtype: a.dtype };
    }
    case 'Squeeze': {
      const rank = a.array.dims.length;
      const axes = attrInts(node, 'axes') ?? (inputs[1] ? Array.from(inputs[1].array.data) : undefined);
      const drop = new Set((axes ?? a.array.dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((x) => (x < 0 ? x + rank : x)));
      return { array: { dims: a.array.dims.filter((_, i) => !drop.has(i)), data: a.array.data }, dtype: a.dtype };
    }
    case 'Flatten': {
      const rank = a.array.dims.length;
      let axis = attrInt(node, 'axis', 1);
      if (axis < 0) axis += rank;
      const lead = a.array.dims.slice(0, axis).reduce((x, y) => x * y, 1);
      return { array: { dims: [lead, a.array.data.length / Math.max(lead, 1)], data: a.array.data }, dtype: a.dtype };
    }
    case 'MatMul':
      return { array: matmul(a.array, inputs[1].array), dtype: a.dtype };
    case 'EyeLike': {
      const [rows, cols] = a.array.dims;
      if (a.array.dims.length !== 2) return undefined;
      const k = attrInt(node, 'k', 0);
      const data = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) if (i + k >= 0 && i + k < cols) data[i * cols + i + k] = 1;
      return { array: { dims: [rows, cols], data }, dtype: attrInt(node, 'dtype', a.dtype) };
    }
    case 'ReduceSum':
    case 'ReduceL2':
    case 'ReduceSumSquare': {
      // opset 13+ (ReduceSum) / 18+ (the others) take axes as an input; older ones as an attribute
      const axesList = attrInts(node, 'axes') ?? (inputs[1] ? Array.from(inputs[1].array.data) : undefined);
      const keep = attrInt(node, 'keepdims', 1) === 1;
      if (!axesList || axesList.length === 0) {
        if (attrInt(node, 'noop_with_empty_axes', 0) === 1) return a;
      }
      const axes = axesList && axesList.length ? axesList : a.array.dims.map((_, i) => i);
      const square = op !== 'ReduceSum';
      const r = reduce(a.array, axes, keep, 0, square ? (acc, x) => acc + x * x : (acc, x) => acc + x);
      return { array: op === 'ReduceL2' ? unary(r, Math.sqrt) : r, dtype: a.dtype };
    }
    default:
      return undefined;
  }
}

/** Rounding a Cast applies, so a constant cast to float16 in the graph is float16 here too. */
function roundTo(dtype: number): (x: number) => number {
  switch (dtype) {
    case DataType.FLOAT: return Math.fround;
    case DataType.FLOAT16: return (x) => float16FromBits(float16Bits(x));
    case DataType.BFLOAT16: return (x) => bfloat16FromBits(bfloat16Bits(x));
    case DataType.DOUBLE: return (x) => x;
    default: return Math.trunc;
  }
}
