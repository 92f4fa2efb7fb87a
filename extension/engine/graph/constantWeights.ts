/**
 * Weights held in `Constant` nodes instead of initializers: paddle2onnx and
 * tf2onnx write every conv kernel that way, and Constant nodes inside
 * If/Loop/Scan bodies hold the weights of those bodies. They are parameters
 * like any initializer, for the overview's count and the parameter diff.
 *
 * Not every Constant is a weight: a Reshape target, the axes of an
 * Unsqueeze, an epsilon or a clip bound are constants too. A Constant counts
 * as a weight when it holds a floating-point tensor of two or more elements,
 * or more than 16 elements of any numeric type (a quantized kernel); shape
 * vectors and scalars stay out.
 */
import { DataType, type ITensorProto, type onnx } from '../onnx/proto';
import { isFloatType, isNumericType } from '../onnx/dtypes';
import { tensorElementCount } from '../onnx/tensors';
import { constantAttributeTensor } from './graphIndex';
import { nodeAddresses } from './nodeAddress';

export interface ConstantWeight {
  /** The value the Constant node outputs (unique in the model: ONNX values are SSA). */
  name: string;
  tensor: ITensorProto;
  /** The node's address: its name, or `Constant#3`; inside a subgraph prefixed by the owning node (`If#2/then_branch/…`). */
  address: string;
}

const SMALL_ANY_TYPE = 16;

export function isWeightLike(t: ITensorProto): boolean {
  const dtype = t.data_type ?? DataType.UNDEFINED;
  if (!isNumericType(dtype)) return false;
  const n = tensorElementCount(t);
  return (isFloatType(dtype) && n >= 2) || n > SMALL_ANY_TYPE;
}

/** Every weight-like Constant node of the graph and of its subgraphs, in graph order. */
export function constantNodeWeights(graph: onnx.IGraphProto, prefix = ''): ConstantWeight[] {
  const out: ConstantWeight[] = [];
  const nodes = graph.node ?? [];
  const addresses = nodeAddresses(nodes);
  for (const node of nodes) {
    const address = prefix + (addresses.get(node) ?? node.name ?? '');
    if (node.op_type === 'Constant' && (node.domain ?? '') === '' && node.output?.[0]) {
      const t = constantAttributeTensor(node);
      if (t && isWeightLike(t)) out.push({ name: node.output[0], tensor: t, address });
    }
    for (const a of node.attribute ?? []) {
      if (a.g) out.push(...constantNodeWeights(a.g, `${address}/${a.name}/`));
      (a.graphs ?? []).forEach((sg, i) => out.push(...constantNodeWeights(sg, `${address}/${a.name}[${i}]/`)));
    }
  }
  return out;
}

/** Initializers of the subgraphs (If/Loop bodies can hold their own). */
export function subgraphInitializers(graph: onnx.IGraphProto): ITensorProto[] {
  const out: ITensorProto[] = [];
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      for (const sg of [a.g, ...(a.graphs ?? [])]) {
        if (!sg) continue;
        out.push(...(sg.initializer ?? []), ...subgraphInitializers(sg));
      }
    }
  }
  return out;
}
