/** Small real ONNX models built with the generated protobuf classes, for cases the fixtures do not cover. */
import * as fs from 'node:fs';
import { onnx, DataType } from '../../../extension/engine/onnx/proto';
import { makeTensor } from '../../../extension/engine/onnx/tensors';

export type Dim = number | string;

export interface TinyValue {
  name: string;
  dtype?: number;
  dims: Dim[];
}

export interface TinyModel {
  inputs: TinyValue[];
  outputs: TinyValue[];
  nodes: { op: string; inputs: string[]; outputs: string[]; attrs?: onnx.IAttributeProto[] }[];
  initializers?: { name: string; dims: number[]; values: number[]; dtype?: number }[];
}

function valueInfo(v: TinyValue): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: { tensor_type: { elem_type: v.dtype ?? DataType.FLOAT, shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  });
}

export function writeTinyModel(file: string, m: TinyModel): string {
  const model = onnx.ModelProto.create({
    ir_version: 8,
    producer_name: 'modelfuse-tests',
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      node: m.nodes.map((n, i) => ({ op_type: n.op, input: n.inputs, output: n.outputs, name: `${n.op.toLowerCase()}_${i}`, attribute: n.attrs ?? [] })),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
      initializer: (m.initializers ?? []).map((t) => makeTensor(t.name, t.dtype ?? DataType.FLOAT, t.dims, t.values)),
    },
  });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}
