/**
 * Small real ONNX models for scan tests, built with the generated protobuf
 * classes: a node list, initializers, typed inputs/outputs. Returned as an
 * OnnxModel decoded from the encoded bytes, exactly as a file would load.
 */
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { float64ToBytes } from '../../../extension/engine/onnx/dtypes';

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
  const values = t.values ?? Array.from({ length: n }, (_, i) => 0.5 + i);
  const dtype = t.dtype ?? DataType.FLOAT;
  return onnx.TensorProto.create({ name: t.name, data_type: dtype, dims: t.dims, raw_data: float64ToBytes(values, dtype) });
}

function attribute(name: string, v: Attr): onnx.AttributeProto {
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: Buffer.from(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: v });
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: v.f });
}

function valueInfo(name: string, dims?: number[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, ...(dims ? { shape: { dim: dims.map((d) => ({ dim_value: d })) } } : {}) } },
  });
}

export function encodeModel(spec: Spec): Buffer {
  const graph = onnx.GraphProto.create({
    name: 'g',
    node: spec.nodes.map((n) =>
      onnx.NodeProto.create({ name: n.name, op_type: n.op, input: n.in, output: n.out, attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)) }),
    ),
    initializer: (spec.inits ?? []).map(tensorProto),
    input: [...spec.inputs.map((i) => valueInfo(i.name, i.dims)), ...(spec.initsAsInputs ?? []).map((n) => valueInfo(n))],
    output: spec.outputs.map((o) => valueInfo(o)),
  });
  const model = onnx.ModelProto.create({
    ir_version: 8,
    producer_name: 'modelfuse-test',
    opset_import: [{ domain: '', version: spec.opset ?? 17 }],
    graph,
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
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
