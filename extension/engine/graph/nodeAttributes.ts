/**
 * A node's attributes as the node panel shows them: one line each, values
 * as text (`kernel_shape = [3, 3]`, `epsilon = 1e-5`), tensors and subgraphs
 * summarised rather than dumped, long lists cut.
 */
import { AttributeType, toNumberClamped, type onnx } from '../onnx/proto';
import { dtypeName } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';

const MAX_LIST = 16;
const MAX_STRING = 200;

export function formatAttributes(node: onnx.INodeProto): { name: string; value: string }[] {
  return (node.attribute ?? []).map((a) => ({ name: a.name ?? '', value: attributeText(a) }));
}

function list<T>(xs: readonly T[], show: (x: T) => string): string {
  const shown = xs.slice(0, MAX_LIST).map(show).join(', ');
  return `[${shown}${xs.length > MAX_LIST ? `, … (${xs.length} in all)` : ''}]`;
}

const text = (b: Uint8Array | null | undefined) => {
  const s = Buffer.from(b ?? []).toString('utf8');
  return JSON.stringify(s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…` : s);
};
const tensor = (t: onnx.ITensorProto) => `tensor ${dtypeName(t.data_type ?? 0)}[${tensorDims(t).join('×')}]`;
const graph = (g: onnx.IGraphProto) => `graph '${g.name ?? ''}' (${(g.node ?? []).length} nodes)`;

function attributeText(a: onnx.IAttributeProto): string {
  switch (a.type) {
    case AttributeType.FLOAT:
      return String(a.f ?? 0);
    case AttributeType.INT:
      return String(toNumberClamped(a.i));
    case AttributeType.STRING:
      return text(a.s);
    case AttributeType.TENSOR:
      return a.t ? tensor(a.t) : 'tensor';
    case AttributeType.GRAPH:
      return a.g ? graph(a.g) : 'graph';
    case AttributeType.FLOATS:
      return list(a.floats ?? [], String);
    case AttributeType.INTS:
      return list(a.ints ?? [], (v) => String(toNumberClamped(v)));
    case AttributeType.STRINGS:
      return list(a.strings ?? [], text);
    case AttributeType.TENSORS:
      return list(a.tensors ?? [], tensor);
    case AttributeType.GRAPHS:
      return list(a.graphs ?? [], graph);
    default:
      return '(unsupported attribute type)';
  }
}
