import { toCandidateView } from '../../../extension/engine/fusion/candidateView';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { DataType } from '../../../extension/engine/onnx/proto';
import { makeGraph, makeModel, makeNode, makeOpsetId, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { onnxOverview, safetensorsOverview, loraAdapterShape } from '../../../extension/workerProcess/handlers/modelOverview';
import { fixture, tempDir } from '../helpers/fixtures';

const noScan = { candidates: [], modules: null, fuseList: null, problem: null };

/** A Conv → Relu → Conv → custom-domain op model whose weight is also listed as a graph input (pre-IR-4 style). */
function writeSmallModel(dir: string): string {
  const w1 = makeTensor('conv1.weight', DataType.FLOAT, [4, 3, 3, 3], new Float64Array(108).fill(0.5));
  const b1 = makeTensor('conv1.bias', DataType.FLOAT, [4], [1, 2, 3, 4]);
  const w2 = makeTensor('conv2.weight', DataType.FLOAT16, [2, 4, 1, 1], new Float64Array(8).fill(1));
  const graph = makeGraph(
    [
      makeNode('Conv', ['x', 'conv1.weight', 'conv1.bias'], ['a'], 'c1'),
      makeNode('Relu', ['a'], ['b'], 'r1'),
      makeNode('Conv', ['b', 'conv2.weight'], ['c'], 'c2'),
      makeNode('Gelu', ['c'], ['y'], 'g1', {}, { domain: 'com.microsoft' }),
    ],
    'g',
    [makeValueInfo('x', DataType.FLOAT, ['batch', 3, 8, 8]), makeValueInfo('conv1.weight', DataType.FLOAT, [4, 3, 3, 3])],
    [makeValueInfo('y', DataType.FLOAT, ['batch', 2, 6, 6])],
    [w1, b1, w2],
  );
  const model = makeModel(graph, { irVersion: 8, producerName: 'unit-test', producerVersion: '1.2', opset: [makeOpsetId('', 17), makeOpsetId('com.microsoft', 1)] });
  return writeModel(path.join(dir, 'small.onnx'), model);
}

test('ONNX overview: producer, opsets, real inputs only, symbolic dims, parameters and the operator histogram', () => {
  const p = writeSmallModel(tempDir());
  const model = OnnxModel.load(p);
  try {
    const o = onnxOverview(model, noScan);
    assert.equal(o.file.name, 'small.onnx');
    assert.equal(o.file.bytes, fs.statSync(p).size);
    assert.deepEqual(o.producer, { name: 'unit-test', version: '1.2' });
    assert.deepEqual(o.opsets, [{ domain: 'ai.onnx', version: 17 }, { domain: 'com.microsoft', version: 1 }]);
    assert.deepEqual(o.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 8, 8] }], 'an initializer listed as input is a weight, not an input');
    assert.deepEqual(o.outputs, [{ name: 'y', dtype: 'float32', shape: ['batch', 2, 6, 6] }]);
    assert.deepEqual(o.parameters, { count: 108 + 4 + 8, bytes: (108 + 4) * 4 + 8 * 2, tensors: 3, externalBytes: 0 });
    assert.equal(o.nodeCount, 4);
    assert.deepEqual(o.operators, [{ op: 'Conv', count: 2 }, { op: 'com.microsoft::Gelu', count: 1 }, { op: 'Relu', count: 1 }]);
  } finally {
    model.close();
  }
});

test('ONNX overview of a dynamo export counts the bytes kept in external data', () => {
  const p = fixture('zoo_conv_bn_relu_dynamo', 'model.onnx');
  const model = OnnxModel.load(p);
  try {
    const o = onnxOverview(model, noScan);
    const dataFile = fs.statSync(`${p}.data`).size;
    assert.ok(o.parameters.externalBytes > 0 && o.parameters.externalBytes <= dataFile);
    assert.ok(o.parameters.bytes >= o.parameters.externalBytes);
    assert.equal(o.operators.reduce((a, x) => a + x.count, 0), o.nodeCount);
  } finally {
    model.close();
  }
});

test('the overview carries the scan result through unchanged', () => {
  const model = OnnxModel.load(fixture('zoo_resstyle', 'model.onnx'));
  try {
    const candidates = [toCandidateView({ id: 'conv-bn:c', pattern: 'conv-bn' as const, nodes: ['c', 'b'], modules: ['conv1', 'bn1'], folds: true, blocked: null, warnings: [] })];
    const o = onnxOverview(model, { candidates, modules: null, fuseList: null, problem: 'x' });
    assert.deepEqual(o.candidates, candidates);
    assert.equal(o.scanProblem, 'x');
  } finally {
    model.close();
  }
});

test('safetensors overview: tensors in file order, totals per dtype, metadata, LoRA detection', () => {
  const file = SafetensorsFile.open(fixture('lora_linear_qv', 'adapters', 'adapter_model.safetensors'));
  try {
    const o = safetensorsOverview(file);
    const entries = [...file.entries.values()];
    assert.equal(o.tensors.length, entries.length);
    assert.equal(o.parameters.bytes, entries.reduce((a, e) => a + e.end - e.begin, 0));
    assert.deepEqual(o.metadata, file.metadata);
    for (let i = 1; i < o.tensors.length; i++) assert.ok(file.get(o.tensors[i - 1].name).begin < file.get(o.tensors[i].name).begin);
    assert.equal(o.dtypes.reduce((a, d) => a + d.bytes, 0), o.parameters.bytes);
    const loraA = entries.filter((e) => e.name.includes('lora_A'));
    assert.deepEqual(o.loraAdapter, { layers: loraA.length, ranks: [...new Set(loraA.map((e) => e.shape[0]))] });
  } finally {
    file.close();
  }
});

test('a base checkpoint is not mistaken for a LoRA adapter', () => {
  const file = SafetensorsFile.open(fixture('lora_linear_qv', 'base.safetensors'));
  try {
    assert.equal(safetensorsOverview(file).loraAdapter, null);
  } finally {
    file.close();
  }
  assert.deepEqual(loraAdapterShape([{ name: 'lora_unet_down.lora_down.weight', dtype: 'F16', shape: [8, 320], count: 2560, bytes: 5120 }]), { layers: 1, ranks: [8] });
});

