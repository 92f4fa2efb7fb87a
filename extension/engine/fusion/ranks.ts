/**
 * Tensor ranks (number of dimensions) of a graph's values, as far as they can
 * be known without running the model: from declared types (inputs, outputs,
 * value_info), constants, and a forward pass over the ops whose output rank
 * follows from their inputs'. Patterns need ranks to tell BatchNorm1d from 2d
 * and a 2-D MatMul (foldable into Gemm) from a batched one. Unknown stays
 * undefined; nothing here guesses.
 */
import type { onnx } from '../onnx/proto';
import type { GraphIndex } from '../graph/graphIndex';
import { tensorDims } from '../onnx/tensors';

const SAME_AS_FIRST_INPUT = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu', 'Mish', 'Softplus',
  'Softsign', 'Clip', 'Erf', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Neg', 'Abs', 'Sign', 'Floor', 'Ceil', 'Round', 'Identity',
  'Dropout', 'Cast', 'CastLike', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization',
  'LpNormalization', 'Softmax', 'LogSoftmax', 'Hardmax', 'Conv', 'ConvTranspose', 'ConvInteger', 'MaxPool', 'AveragePool',
  'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'Transpose', 'Concat', 'Pad', 'Resize', 'Upsample',
  'DepthToSpace', 'SpaceToDepth', 'Slice', 'QuantizeLinear', 'DequantizeLinear', 'Not', 'IsNaN', 'IsInf', 'Trilu',
]);
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'Equal', 'Less', 'Greater', 'And', 'Or', 'Xor', 'Mod', 'PRelu']);

export class Ranks {
  private readonly ranks = new Map<string, number>();

  constructor(graph: onnx.IGraphProto, index: GraphIndex) {
    for (const vi of [...(graph.input ?? []), ...(graph.value_info ?? []), ...(graph.output ?? [])]) {
      const shape = vi.type?.tensor_type?.shape;
      if (vi.name && shape) this.ranks.set(vi.name, (shape.dim ?? []).length);
    }
    for (const [name, t] of index.initializers) this.ranks.set(name, tensorDims(t).length);
    // ONNX requires nodes in topological order, so one forward pass sees every input before its consumer.
    for (const node of graph.node ?? []) {
      const out = node.output?.[0];
      if (!out || this.ranks.has(out)) continue;
      const r = this.inferOutputRank(node, index);
      if (r !== undefined) this.ranks.set(out, r);
    }
  }

  rankOf(value: string): number | undefined {
    return this.ranks.get(value);
  }

  private inferOutputRank(node: onnx.INodeProto, index: GraphIndex): number | undefined {
    const op = node.op_type ?? '';
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') return undefined;
    const inputs = node.input ?? [];
    const r = (i: number): number | undefined => (inputs[i] ? this.ranks.get(inputs[i]) : undefined);
    if (op === 'Constant') {
      const t = index.constantTensor(node.output?.[0] ?? '');
      return t ? tensorDims(t).length : undefined;
    }
    if (SAME_AS_FIRST_INPUT.has(op) && !BROADCASTING.has(op)) return r(0);
    if (BROADCASTING.has(op)) {
      const rs = inputs.filter((i) => i).map((i) => this.ranks.get(i));
      // reduce, not Math.max(...rs): a node may have more inputs than a call can take arguments.
      return rs.length && rs.every((x) => x !== undefined) ? (rs as number[]).reduce((a, b) => Math.max(a, b)) : undefined;
    }
    switch (op) {
      case 'Gemm':
      case 'Flatten':
        return 2;
      case 'MatMul': {
        const a = r(0);
        const b = r(1);
        if (a === undefined || b === undefined) return undefined;
        if (a === 1 && b === 1) return 0;
        if (a === 1) return b - 1;
        if (b === 1) return a - 1;
        return Math.max(a, b);
      }
      case 'Gather': {
        const d = r(0);
        const i = r(1);
        return d !== undefined && i !== undefined ? d - 1 + i : undefined;
      }
      case 'Reshape': {
        const shape = index.constantTensor(inputs[1] ?? '');
        return shape ? tensorDims(shape).reduce((x, y) => x * y, 1) : undefined;
      }
      default:
        return undefined;
    }
  }
}
