/**
 * Generates torchvision-ResNet-50-shaped ONNX models for benchmarks, named
 * the way the TorchScript exporter names them (`/layer1/layer1.0/conv1/Conv`,
 * `layer1.0.conv1.weight`, the block's shared `relu` called three times).
 * `width` multiplies the channel counts: width 1 is ResNet-50 (25.6 M
 * parameters, ~100 MB of float32); width 5 has ~640 M parameters (~2.5 GB),
 * which must live in external data. External data is written as a sparse file
 * (ftruncate), so generating gigabytes costs no time and no disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, onnx } from '../../extension/engine/onnx/proto';
import { encodeModel, makeGraph, makeModel, makeNode, makeRawTensor, makeValueInfo, type AttrValue } from '../unit/helpers/onnxBuilder';

export interface GeneratedModel {
  onnxPath: string;
  dataPath: string | null;
  parameters: number;
  weightBytes: number;
  convBnPairs: number;
}

interface Builder {
  nodes: onnx.NodeProto[];
  inits: onnx.TensorProto[];
  parameters: number;
  convBnPairs: number;
  external: { file: string; offset: number } | null;
  seed: number;
}

function param(b: Builder, name: string, dims: number[]): string {
  const count = dims.reduce((x, y) => x * y, 1);
  b.parameters += count;
  if (b.external) {
    const t = onnx.TensorProto.create({ name, data_type: DataType.FLOAT, dims, data_location: onnx.TensorProto.DataLocation.EXTERNAL });
    t.external_data = [
      { key: 'location', value: b.external.file },
      { key: 'offset', value: String(b.external.offset) },
      { key: 'length', value: String(count * 4) },
    ].map((e) => onnx.StringStringEntryProto.create(e));
    b.external.offset += Math.ceil((count * 4) / 4096) * 4096;
    b.inits.push(t);
    return name;
  }
  const values = new Float32Array(count);
  // Cheap deterministic values; running variances must stay positive.
  const positive = name.endsWith('running_var');
  for (let i = 0; i < count; i++) {
    b.seed = (Math.imul(b.seed, 1664525) + 1013904223) >>> 0;
    const u = b.seed / 4294967296;
    values[i] = positive ? 0.5 + u : (u - 0.5) * 0.1;
  }
  b.inits.push(makeRawTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer)));
  return name;
}

function node(b: Builder, op: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
  const out = `${name}_output_0`;
  b.nodes.push(makeNode(op, inputs, [out], name, attrs));
  return out;
}

/** TorchScript names a scope by the module's attribute name, or by its full path inside a Sequential (`downsample.0`). */
function scopeName(path: string): string {
  const parts = path.split('.');
  return /^\d+$/.test(parts[parts.length - 1]) ? parts.slice(-2).join('.') : parts[parts.length - 1];
}

function convBn(b: Builder, scope: string, convPath: string, bnPath: string, x: string, cin: number, cout: number, k: number, stride: number): string {
  const w = param(b, `${convPath}.weight`, [cout, cin, k, k]);
  const pad = Math.floor(k / 2);
  const c = node(b, 'Conv', `${scope}/${scopeName(convPath)}/Conv`, [x, w], {
    dilations: [1, 1], group: 1, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride],
  });
  const bnParams = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => param(b, `${bnPath}.${p}`, [cout]));
  b.convBnPairs++;
  return node(b, 'BatchNormalization', `${scope}/${scopeName(bnPath)}/BatchNormalization`, [c, ...bnParams], { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } });
}

export function generateResnet50(dir: string, name: string, width: number, external: boolean): GeneratedModel {
  fs.mkdirSync(dir, { recursive: true });
  const onnxPath = path.join(dir, `${name}.onnx`);
  const dataFile = `${name}.onnx.data`;
  const b: Builder = { nodes: [], inits: [], parameters: 0, convBnPairs: 0, external: external ? { file: dataFile, offset: 0 } : null, seed: 42 };
  const C = (n: number) => n * width;
  let x = convBn(b, '', 'conv1', 'bn1', 'input', 3, C(64), 7, 2);
  x = node(b, 'Relu', '/relu/Relu', [x]);
  x = node(b, 'MaxPool', '/maxpool/MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  let cin = C(64);
  const stages: [number, number][] = [[3, 64], [4, 128], [6, 256], [3, 512]];
  stages.forEach(([blocks, planes], li) => {
    const layer = `layer${li + 1}`;
    for (let i = 0; i < blocks; i++) {
      const blk = `${layer}.${i}`;
      const scope = `/${layer}/${blk}`;
      const p = C(planes);
      const stride = i === 0 && li > 0 ? 2 : 1;
      let y = convBn(b, scope, `${blk}.conv1`, `${blk}.bn1`, x, cin, p, 1, 1);
      y = node(b, 'Relu', `${scope}/relu/Relu`, [y]);
      y = convBn(b, scope, `${blk}.conv2`, `${blk}.bn2`, y, p, p, 3, stride);
      y = node(b, 'Relu', `${scope}/relu_1/Relu`, [y]);
      y = convBn(b, scope, `${blk}.conv3`, `${blk}.bn3`, y, p, 4 * p, 1, 1);
      let identity = x;
      if (i === 0) identity = convBn(b, `${scope}/downsample`, `${blk}.downsample.0`, `${blk}.downsample.1`, x, cin, 4 * p, 1, stride);
      y = node(b, 'Add', `${scope}/Add`, [y, identity]);
      x = node(b, 'Relu', `${scope}/relu_2/Relu`, [y]);
      cin = 4 * p;
    }
  });
  x = node(b, 'GlobalAveragePool', '/avgpool/GlobalAveragePool', [x]);
  x = node(b, 'Flatten', '/Flatten', [x], { axis: 1 });
  const fcW = param(b, 'fc.weight', [1000, cin]);
  const fcB = param(b, 'fc.bias', [1000]);
  b.nodes.push(makeNode('Gemm', [x, fcW, fcB], ['output'], '/fc/Gemm', { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }));

  const graph = makeGraph(b.nodes, 'main_graph', [makeValueInfo('input', DataType.FLOAT, ['batch', 3, 224, 224])], [makeValueInfo('output', DataType.FLOAT, ['batch', 1000])], b.inits);
  const model = makeModel(graph, { producerName: 'pytorch', producerVersion: '2.11.0 (modelfuse bench generator)' });
  fs.writeFileSync(onnxPath, encodeModel(model));
  let dataPath: string | null = null;
  if (b.external) {
    dataPath = path.join(dir, dataFile);
    fs.writeFileSync(dataPath, '');
    fs.truncateSync(dataPath, b.external.offset); // sparse: zeros cost neither time nor disk
  }
  return { onnxPath, dataPath, parameters: b.parameters, weightBytes: b.parameters * 4, convBnPairs: b.convBnPairs };
}
