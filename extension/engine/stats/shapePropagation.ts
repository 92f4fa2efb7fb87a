/**
 * Concrete shapes of a graph's values for one choice of input shapes, by
 * walking the nodes in order with the ONNX shape rules of the ops vision and
 * sequence models are built from. Verification uses it twice: to tell
 * whether an input size is consistent with the model (a Flatten feeding a
 * fixed-width Gemm, two branches concatenated after different strides), and
 * to find convolutions that would see a 1-pixel input under a larger kernel
 * (a check that proves nothing). A value whose shape cannot be known stays
 * unknown; it is never guessed.
 */
import { toNumber, type onnx } from '../onnx/proto';
import type { OnnxModel } from '../onnx/model';
import { tensorDims } from '../onnx/tensors';
import { attr, attrInt, attrInts, attrString, GraphIndex } from '../graph/graphIndex';
import { broadcastShapes, resolveReshape } from '../lora/graphBranch/ndarray';

/** A node the shapes contradict: the input size cannot be right for this model. */
export interface ShapeConflict {
  node: string;
  reason: string;
}

/** A Conv or pooling node whose window spans more than one position along an axis where its input has size 1 (it sees padding there). */
export interface SpatialUse {
  node: string;
  op: string;
  /** Spatial size of the node's input. */
  input: number[];
  kernel: number[];
}

export interface PropagatedShapes {
  shapes: Map<string, number[]>;
  conflicts: ShapeConflict[];
  windows: SpatialUse[];
}

export const SAME_SHAPE = new Set([
  'Identity', 'Cast', 'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Gelu', 'Erf', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh',
  'Softmax', 'LogSoftmax', 'Softplus', 'Softsign', 'Mish', 'Clip', 'Dropout', 'Neg', 'Abs', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Floor',
  'Ceil', 'Round', 'Sign', 'Not', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization',
  'LpNormalization', 'LRN', 'ThresholdedRelu', 'Shrink', 'Sin', 'Cos',
]);
export const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Where', 'Mod', 'BitShift']);
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);

export function propagateShapes(model: OnnxModel, inputs: Readonly<Record<string, readonly number[]>>, index = new GraphIndex(model.graph)): PropagatedShapes {
  return new Propagation(model, index, inputs).run();
}

class Propagation {
  private readonly shapes = new Map<string, number[]>();
  private readonly conflicts: ShapeConflict[] = [];
  private readonly windows: SpatialUse[] = [];

  constructor(private readonly model: OnnxModel, private readonly index: GraphIndex, inputs: Readonly<Record<string, readonly number[]>>) {
    for (const [name, dims] of Object.entries(inputs)) this.shapes.set(name, [...dims]);
  }

  run(): PropagatedShapes {
    const nodes = this.model.graph.node ?? [];
    nodes.forEach((node, i) => {
      if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') return;
      const out = this.outputShape(node, node.name || `${node.op_type ?? '?'}#${i}`);
      const first = node.output?.[0];
      if (out && first) this.shapes.set(first, out);
    });
    return { shapes: this.shapes, conflicts: this.conflicts, windows: this.windows };
  }

  /** The shape of a value: propagated, a constant's, or declared with every dim fixed. */
  private shapeOf(value: string | undefined): number[] | undefined {
    if (!value) return undefined;
    const known = this.shapes.get(value);
    if (known) return known;
    const t = this.index.constantTensor(value);
    if (t) return tensorDims(t);
    return undefined;
  }

  /** A small constant (a shape, scales, pads) as numbers, or undefined when it is not a constant. */
  private constantNumbers(value: string | undefined): number[] | undefined {
    const t = value ? this.index.constantTensor(value) : undefined;
    if (!t) return undefined;
    const dims = tensorDims(t);
    if (dims.reduce((a, b) => a * b, 1) > 64) return undefined;
    return Array.from(this.model.tensorValues(t));
  }

  private conflict(node: string, reason: string): undefined {
    this.conflicts.push({ node, reason });
    return undefined;
  }

  private outputShape(node: onnx.INodeProto, name: string): number[] | undefined {
    const op = node.op_type ?? '';
    const ins = node.input ?? [];
    const s = (i: number) => this.shapeOf(ins[i]);
    if (SAME_SHAPE.has(op)) return s(0);
    if (BROADCAST.has(op)) {
      const shapes = ins.filter(Boolean).map((v) => this.shapeOf(v));
      if (shapes.some((x) => !x)) return undefined;
      let out: number[] | undefined = shapes[0];
      for (const x of shapes.slice(1)) {
        const next: number[] | undefined = out && broadcastShapes(out, x!);
        if (!next) return this.conflict(name, `${op} of shapes ${shapes.map((x) => fmt(x!)).join(' and ')} does not broadcast`);
        out = next;
      }
      return out;
    }
    if (op === 'Conv' || op === 'ConvTranspose' || POOLS.has(op)) return this.windowed(node, name, op);
    switch (op) {
      case 'GlobalAveragePool': case 'GlobalMaxPool': case 'GlobalLpPool': {
        const a = s(0);
        return a && a.length >= 2 ? [a[0], a[1], ...a.slice(2).map(() => 1)] : undefined;
      }
      case 'Concat': {
        const shapes = ins.filter(Boolean).map((v) => this.shapeOf(v));
        if (shapes.length === 0 || shapes.some((x) => !x)) return undefined;
        const rank = shapes[0]!.length;
        const axis = normAxis(attrInt(node, 'axis', 0), rank);
        const out = [...shapes[0]!];
        for (const x of shapes.slice(1)) {
          if (x!.length !== rank || x!.some((d, i) => i !== axis && d !== out[i])) {
            return this.conflict(name, `Concat of shapes ${shapes.map((y) => fmt(y!)).join(', ')} along axis ${axis}: the other dimensions differ`);
          }
          out[axis] += x![axis];
        }
        return out;
      }
      case 'Flatten': {
        const a = s(0);
        if (!a) return undefined;
        const axis = normAxis(attrInt(node, 'axis', 1), a.length);
        return [product(a.slice(0, axis)), product(a.slice(axis))];
      }
      case 'Reshape': {
        const a = s(0);
        const target = this.constantNumbers(ins[1]);
        if (!a || !target) return undefined;
        const out = resolveReshape(a, target, attrInt(node, 'allowzero', 0) === 1);
        return out ?? this.conflict(name, `Reshape of ${fmt(a)} (${product(a)} elements) to ${fmt(target)} is impossible`);
      }
      case 'Transpose': {
        const a = s(0);
        if (!a) return undefined;
        const perm = attrInts(node, 'perm') ?? a.map((_, i) => a.length - 1 - i);
        return perm.map((p) => a[p]);
      }
      case 'MatMul': {
        const a = s(0);
        const b = s(1);
        if (!a || !b || a.length < 2 || b.length < 2) return undefined;
        if (a[a.length - 1] !== b[b.length - 2]) return this.conflict(name, `MatMul of ${fmt(a)} by ${fmt(b)}: inner dimensions ${a[a.length - 1]} and ${b[b.length - 2]} differ`);
        const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
        return batch ? [...batch, a[a.length - 2], b[b.length - 1]] : undefined;
      }
      case 'Gemm': {
        const a = s(0);
        const b = s(1);
        if (!a || !b || a.length !== 2 || b.length !== 2) return undefined;
        const [m, ka] = attrInt(node, 'transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
        const [kb, n] = attrInt(node, 'transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
        if (ka !== kb) return this.conflict(name, `Gemm of ${fmt(a)} by ${fmt(b)}: inner dimensions ${ka} and ${kb} differ`);
        return [m, n];
      }
      case 'Pad': {
        const a = s(0);
        const pads = node.input && node.input.length > 1 ? this.constantNumbers(ins[1]) : attrInts(node, 'pads');
        if (!a || !pads || pads.length !== 2 * a.length) return undefined;
        return a.map((d, i) => d + pads[i] + pads[i + a.length]);
      }
      case 'Resize': case 'Upsample':
        return this.resized(node, op);
      default:
        return undefined;
    }
  }

  /** Conv, ConvTranspose and pooling: ONNX's output size formula, with auto_pad; records each window against its input. */
  private windowed(node: onnx.INodeProto, name: string, op: string): number[] | undefined {
    const ins = node.input ?? [];
    const x = this.shapeOf(ins[0]);
    if (!x || x.length < 3) return undefined;
    const spatial = x.slice(2);
    const k = spatial.length;
    const w = op === 'Conv' || op === 'ConvTranspose' ? this.shapeOf(ins[1]) : undefined;
    const kernel = attrInts(node, 'kernel_shape') ?? w?.slice(2);
    if (!kernel || kernel.length !== k) return undefined;
    const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
    const dilations = attrInts(node, 'dilations') ?? kernel.map(() => 1);
    const pads = attrInts(node, 'pads') ?? new Array<number>(2 * k).fill(0);
    const autoPad = attrString(node, 'auto_pad') ?? 'NOTSET';
    const ceil = attrInt(node, 'ceil_mode', 0) === 1;
    if (op !== 'ConvTranspose' && kernel.some((kk, i) => kk > 1 && spatial[i] === 1)) this.windows.push({ node: name, op, input: spatial, kernel });
    let channels: number | undefined;
    if (op === 'Conv') channels = w?.[0];
    else if (op === 'ConvTranspose') channels = w ? w[1] * attrInt(node, 'group', 1) : undefined;
    else channels = x[1];
    if (channels === undefined) return undefined;
    if (op === 'Conv' && w && w[1] * attrInt(node, 'group', 1) !== x[1]) {
      return this.conflict(name, `Conv expects ${w[1] * attrInt(node, 'group', 1)} input channels, gets ${fmt(x)}`);
    }
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      const span = (kernel[i] - 1) * dilations[i] + 1;
      let size: number;
      if (op === 'ConvTranspose') {
        const explicit = attrInts(node, 'output_shape');
        if (explicit) return [x[0], channels, ...explicit.slice(-k)];
        const outPad = attrInts(node, 'output_padding')?.[i] ?? 0;
        size = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER' ? spatial[i] * strides[i] : strides[i] * (spatial[i] - 1) + outPad + span - pads[i] - pads[i + k];
      } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
        size = Math.ceil(spatial[i] / strides[i]);
      } else if (autoPad === 'VALID') {
        size = Math.ceil((spatial[i] - span + 1) / strides[i]);
      } else {
        const q = (spatial[i] + pads[i] + pads[i + k] - span) / strides[i];
        size = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
      }
      if (size < 1) return this.conflict(name, `${op} with a ${kernel.join('×')} window on a ${spatial.join('×')} input leaves nothing`);
      out.push(size);
    }
    return [x[0], channels, ...out];
  }

  /** Resize / Upsample with constant scales or sizes (opset 10's Resize and Upsample take scales as input 1). */
  private resized(node: onnx.INodeProto, op: string): number[] | undefined {
    const ins = node.input ?? [];
    const x = this.shapeOf(ins[0]);
    if (!x) return undefined;
    const legacy = op === 'Upsample' || ins.length === 2;
    const sizes = !legacy ? this.constantNumbers(ins[3]) : undefined;
    if (sizes && sizes.length === x.length) return sizes;
    const scales = legacy ? this.constantNumbers(ins[1]) ?? attr(node, 'scales')?.floats?.map(Number) : this.constantNumbers(ins[2]);
    if (!scales || scales.length !== x.length) return undefined;
    return x.map((d, i) => Math.floor(d * scales[i]));
  }
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function fmt(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** Fixed dims a graph declares for a value (value_info, inputs, outputs), by name; dynamic dims as their symbol or null. */
export function declaredDims(graph: onnx.IGraphProto): Map<string, (number | string | null)[]> {
  const out = new Map<string, (number | string | null)[]>();
  for (const vi of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])]) {
    const dims = vi.type?.tensor_type?.shape?.dim;
    if (!vi.name || !dims) continue;
    out.set(vi.name, dims.map((d) => (d.dim_param ? d.dim_param : d.dim_value !== null && d.dim_value !== undefined ? toNumber(d.dim_value) : null)));
  }
  return out;
}
