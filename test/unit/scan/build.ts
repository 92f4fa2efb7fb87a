/**
 * Small real ONNX models for scan tests, as editable specs (a node list,
 * initializers, typed inputs/outputs) that tests change one thing in, built
 * with the one test builder (helpers/onnxBuilder.ts). Returned as an
 * OnnxModel decoded from the encoded bytes, exactly as a file would load.
 */
import { DataType, type onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { encodeModel as encodeModelProto, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue } from '../helpers/onnxBuilder';

export type Attr = number | number[] | { f: number } | string;

export interface N {
  op: string;
  name: string;
  in: string[];
  out: string[];
  attrs?: Record<string, Attr>;
}

export interface T {
  name: string;
  dims: number[];
  dtype?: number;
  /** Defaults to 0.5, 1.5, … */
  values?: number[];
}

export interface Spec {
  nodes: N[];
  inits?: T[];
  inputs: { name: string; dims?: number[] }[];
  outputs: string[];
  opset?: number;
  /** Initializer names also listed as graph inputs (overridable at run time). */
  initsAsInputs?: string[];
}

export function tensorProto(t: T): onnx.TensorProto {
  const n = t.dims.reduce((a, b) => a * b, 1);
  return makeTensor(t.name, t.dtype ?? DataType.FLOAT, t.dims, t.values ?? Array.from({ length: n }, (_, i) => 0.5 + i));
}

/** This spec's attribute forms in the one builder's: `{ f }` is a FLOAT. */
function attrs(a: Record<string, Attr> = {}): Record<string, AttrValue> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, typeof v === 'object' && !Array.isArray(v) ? { float: v.f } : v]));
}

export function encodeModel(spec: Spec): Buffer {
  const graph = makeGraph(
    spec.nodes.map((n) => makeNode(n.op, n.in, n.out, n.name, attrs(n.attrs))),
    'g',
    [...spec.inputs.map((i) => makeValueInfo(i.name, DataType.FLOAT, i.dims)), ...(spec.initsAsInputs ?? []).map((n) => makeValueInfo(n))],
    spec.outputs.map((o) => makeValueInfo(o)),
    (spec.inits ?? []).map(tensorProto),
  );
  return Buffer.from(encodeModelProto(makeModel(graph, { opset: spec.opset ?? 17 })));
}

export function buildModel(spec: Spec, path = '/tmp/modelfuse-built.onnx'): OnnxModel {
  return OnnxModel.fromBytes(path, encodeModel(spec));
}

/** Conv(x, w[, b]) → BN → Relu, 2-D, C channels: the base most blocked-case tests modify. */
export function convBnRelu(C = 4, opts: { relu?: boolean } = {}): Spec {
  return {
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: [opts.relu === false ? 'bn_out' : 'y'],
    inits: [
      { name: 'conv.weight', dims: [C, 3, 3, 3] },
      { name: 'conv.bias', dims: [C] },
      { name: 'bn.weight', dims: [C] },
      { name: 'bn.bias', dims: [C] },
      { name: 'bn.running_mean', dims: [C] },
      { name: 'bn.running_var', dims: [C] },
    ],
    nodes: [
      { op: 'Conv', name: '/conv/Conv', in: ['x', 'conv.weight', 'conv.bias'], out: ['conv_out'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'BatchNormalization', name: '/bn/BatchNormalization', in: ['conv_out', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], out: ['bn_out'], attrs: { epsilon: { f: 1e-5 } } },
      ...(opts.relu === false ? [] : [{ op: 'Relu', name: '/relu/Relu', in: ['bn_out'], out: ['y'] }]),
    ],
  };
}
