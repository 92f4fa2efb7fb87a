/**
 * The rank (number of dimensions) of a value, where it can be known without
 * running the model: declared shapes (graph inputs/outputs, value_info),
 * constants, and a short walk back through ops whose output rank follows
 * from their inputs' (elementwise ops, Gemm, MatMul, Flatten, Reshape by a
 * constant shape, …). Folds that are exact only for 2-D inputs (MatMul →
 * Gemm) ask this and refuse when the answer is "unknown".
 */
import { attrInts, type GraphIndex } from '../../graph/graphIndex';
import type { INodeProto } from '../../onnx/proto';
import { tensorDims } from '../../onnx/tensors';

/** Ops whose output has the rank of their first input. */
const SAME_RANK = new Set([
  'Abs', 'Acos', 'Asin', 'Atan', 'BatchNormalization', 'Cast', 'CastLike', 'Ceil', 'Celu', 'Clip', 'Conv', 'ConvTranspose', 'Cos',
  'Cosh', 'CumSum', 'DequantizeLinear', 'Dropout', 'Elu', 'Erf', 'Exp', 'Floor', 'Gelu', 'GlobalAveragePool', 'GlobalMaxPool',
  'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'InstanceNormalization', 'IsInf', 'IsNaN', 'LRN', 'LayerNormalization',
  'LeakyRelu', 'Log', 'LogSoftmax', 'MaxPool', 'AveragePool', 'LpPool', 'Mish', 'Neg', 'Not', 'PRelu', 'QuantizeLinear', 'Reciprocal',
  'Relu', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Softmax', 'Softplus', 'Softsign', 'Sqrt', 'Tan', 'Tanh',
  'ThresholdedRelu', 'Transpose', 'Trilu', 'Pad', 'Resize', 'Upsample', 'GroupNormalization',
]);

/** Elementwise ops with multidirectional broadcasting: the output has the largest input rank. */
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'Equal', 'Greater', 'Less', 'And', 'Or', 'Xor', 'Mod', 'BitShift']);

/** Deeper chains than this are not followed (a rank we cannot find quickly is "unknown"). */
const MAX_DEPTH = 500;

export class ValueRanks {
  private readonly declared = new Map<string, number>();
  private readonly cache = new Map<string, number | undefined>();

  constructor(private readonly index: GraphIndex) {
    const g = index.graph;
    for (const vi of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) {
      const shape = vi.type?.tensor_type?.shape;
      if (vi.name && shape) this.declared.set(vi.name, (shape.dim ?? []).length);
    }
  }

  /** The rank of `value`, or undefined when nothing in the model says. */
  rank(value: string): number | undefined {
    return this.find(value, 0);
  }

  private find(value: string, depth: number): number | undefined {
    if (this.cache.has(value)) return this.cache.get(value);
    const r = this.compute(value, depth);
    this.cache.set(value, r);
    return r;
  }

  private compute(value: string, depth: number): number | undefined {
    const declared = this.declared.get(value);
    if (declared !== undefined) return declared;
    const constant = this.index.initializers.get(value) ?? this.index.constantTensor(value);
    if (constant) return tensorDims(constant).length;
    const node = this.index.producer.get(value);
    if (!node || depth > MAX_DEPTH || ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx')) return undefined;
    if ((node.output ?? [])[0] !== value) return undefined; // secondary outputs (Dropout mask, …): not worth guessing
    return this.fromProducer(node, depth + 1);
  }

  private fromProducer(node: INodeProto, depth: number): number | undefined {
    const op = node.op_type ?? '';
    const inputs = (node.input ?? []).filter((i) => i);
    const inRank = (i: number): number | undefined => (node.input?.[i] ? this.find(node.input[i], depth) : undefined);
    if (SAME_RANK.has(op)) return inRank(0);
    if (op === 'Gemm' || op === 'Flatten') return 2;
    if (op === 'MatMul') {
      const a = inRank(0);
      const b = inRank(1);
      if (a === undefined || b === undefined) return undefined;
      if (a === 1 && b === 1) return 0;
      if (a === 1) return b - 1;
      if (b === 1) return a - 1;
      return Math.max(a, b);
    }
    if (BROADCAST.has(op)) {
      let r = 0;
      for (const v of inputs) {
        const x = this.find(v, depth);
        if (x === undefined) return undefined;
        r = Math.max(r, x);
      }
      return r;
    }
    if (op === 'Concat') return inRank(0);
    if (op === 'Reshape') {
      const shape = node.input?.[1] ? this.index.constantTensor(node.input[1]) : undefined;
      return shape ? tensorDims(shape)[0] : undefined;
    }
    if (op === 'Unsqueeze' || op === 'Squeeze') {
      const r = inRank(0);
      const axesTensor = node.input?.[1] ? this.index.constantTensor(node.input[1]) : undefined;
      const count = axesTensor ? tensorDims(axesTensor).reduce((a, b) => a * b, 1) : attrInts(node, 'axes')?.length;
      if (r === undefined || count === undefined) return undefined;
      return op === 'Unsqueeze' ? r + count : r - count;
    }
    return undefined;
  }
}
