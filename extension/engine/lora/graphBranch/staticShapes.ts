/**
 * Static shapes of graph values, as far as they can be known without running
 * the model: declared shapes (inputs, outputs, value_info), constants, and a
 * few shape-preserving or simple ops. Used only to prove that a Reshape pair
 * inside a LoRA branch restores the shape it started from; an unknown shape
 * means "cannot prove", never a guess.
 */
import { toNumber } from '../../onnx/proto';
import { tensorDims } from '../../onnx/tensors';
import { attrInt, attrInts, type GraphIndex } from '../../graph/graphIndex';
import { broadcastShapes, resolveReshape } from './ndarray';
import type { ConstEvaluator } from './constEval';

const SAME_SHAPE = new Set(['Identity', 'Cast', 'Relu', 'Gelu', 'Erf', 'Sigmoid', 'Tanh', 'Softmax', 'LayerNormalization', 'Dropout', 'Neg', 'Sqrt', 'BatchNormalization']);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow']);

export class StaticShapes {
  private readonly declared = new Map<string, number[]>();
  private readonly memo = new Map<string, number[] | undefined>();

  constructor(private readonly index: GraphIndex, private readonly consts: ConstEvaluator) {
    const g = index.graph;
    for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) {
      const dims = vi.type?.tensor_type?.shape?.dim;
      if (!vi.name || !dims) continue;
      if (dims.every((d) => d.dim_value !== null && d.dim_value !== undefined && toNumber(d.dim_value) > 0)) {
        this.declared.set(vi.name, dims.map((d) => toNumber(d.dim_value)));
      }
    }
  }

  shapeOf(value: string, depth = 0): number[] | undefined {
    if (this.memo.has(value)) return this.memo.get(value);
    const s = this.compute(value, depth);
    this.memo.set(value, s);
    return s;
  }

  private compute(value: string, depth: number): number[] | undefined {
    const declared = this.declared.get(value);
    if (declared) return declared;
    const t = this.index.constantTensor(value);
    if (t) return tensorDims(t);
    if (this.consts.constness(value).ok) {
      const c = this.consts.info(value);
      return c.ok ? c.value.dims : undefined;
    }
    const node = this.index.producer.get(value);
    if (!node || depth > 48 || (node.domain ?? '') !== '') return undefined;
    const ins = node.input ?? [];
    const s = (i: number): number[] | undefined => (ins[i] ? this.shapeOf(ins[i], depth + 1) : undefined);
    const op = node.op_type ?? '';
    if (node.output?.[0] !== value) return undefined;
    if (SAME_SHAPE.has(op)) return s(0);
    if (ELEMENTWISE.has(op)) {
      const a = s(0);
      const b = s(1);
      return a && b ? broadcastShapes(a, b) : undefined;
    }
    switch (op) {
      case 'MatMul': {
        const a = s(0);
        const b = s(1);
        if (!a || !b || b.length !== 2 || a.length < 2 || a[a.length - 1] !== b[0]) return undefined;
        return [...a.slice(0, -1), b[1]];
      }
      case 'Gemm': {
        const a = s(0);
        const b = s(1);
        if (!a || !b || a.length !== 2 || b.length !== 2) return undefined;
        const m = attrInt(node, 'transA', 0) ? a[1] : a[0];
        const n = attrInt(node, 'transB', 0) ? b[0] : b[1];
        return [m, n];
      }
      case 'Transpose': {
        const a = s(0);
        if (!a) return undefined;
        const perm = attrInts(node, 'perm') ?? a.map((_, i) => a.length - 1 - i);
        return perm.map((p) => a[p]);
      }
      case 'Reshape': {
        const a = s(0);
        const target = ins[1] ? this.consts.evaluate(ins[1]) : undefined;
        if (!a || !target?.ok) return undefined;
        return resolveReshape(a, Array.from(target.value.array.data), attrInt(node, 'allowzero', 0) === 1);
      }
      case 'Gather': {
        const data = s(0);
        const idx = s(1);
        if (!data || !idx) return undefined;
        let axis = attrInt(node, 'axis', 0);
        if (axis < 0) axis += data.length;
        return [...data.slice(0, axis), ...idx, ...data.slice(axis + 1)];
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        const a = s(0);
        const axesValue = ins[1] ? this.consts.evaluate(ins[1]) : undefined;
        const axes = attrInts(node, 'axes') ?? (axesValue?.ok ? Array.from(axesValue.value.array.data) : undefined);
        if (!a || (op === 'Unsqueeze' && !axes)) return undefined;
        if (op === 'Squeeze') {
          const drop = new Set((axes ?? a.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((x) => (x < 0 ? x + a.length : x)));
          return a.filter((_, i) => !drop.has(i));
        }
        const rank = a.length + axes!.length;
        const at = new Set(axes!.map((x) => (x < 0 ? x + rank : x)));
        let src = 0;
        return Array.from({ length: rank }, (_, i) => (at.has(i) ? 1 : a[src++]));
      }
      case 'Flatten': {
        const a = s(0);
        if (!a) return undefined;
        let axis = attrInt(node, 'axis', 1);
        if (axis < 0) axis += a.length;
        const lead = a.slice(0, axis).reduce((x, y) => x * y, 1);
        return [lead, a.slice(axis).reduce((x, y) => x * y, 1)];
      }
      default:
        return undefined;
    }
  }
}

