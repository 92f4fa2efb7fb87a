/**
 * Decoding and re-encoding loses nothing: a hand-built model using every
 * rarely-used part of ONNX (functions, metadata_props, doc strings,
 * value_info, sparse initializers, an If subgraph, training_info, int64
 * extremes) comes back byte-identical through load + save; and ONNX Runtime
 * computes bit-identical outputs for a saved, unmodified fixture.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import * as ort from 'onnxruntime-node';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { float64ToBytes } from '../../../extension/engine/onnx/dtypes';
import { fixture, readCase, tempDir } from '../helpers/fixtures';

const f32 = (name: string, dims: number[], values: number[]) =>
  onnx.TensorProto.create({ name, data_type: DataType.FLOAT, dims, raw_data: float64ToBytes(values, DataType.FLOAT), doc_string: `doc of ${name}` });
const vi = (name: string, dims: number[]) =>
  onnx.ValueInfoProto.create({ name, doc_string: `value ${name}`, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } });
const meta = (k: string, v: string) => onnx.StringStringEntryProto.create({ key: k, value: v });

function richModel(): onnx.ModelProto {
  const branch = (name: string, value: number) =>
    onnx.GraphProto.create({
      name,
      node: [onnx.NodeProto.create({ name: `${name}_add`, op_type: 'Add', input: ['x', `${name}_c`], output: [`${name}_out`] })],
      initializer: [f32(`${name}_c`, [1], [value])],
      output: [vi(`${name}_out`, [2])],
    });
  const ifNode = onnx.NodeProto.create({
    name: 'branch', op_type: 'If', input: ['cond'], output: ['z'], doc_string: 'an If with two subgraphs',
    attribute: [
      onnx.AttributeProto.create({ name: 'then_branch', type: AttributeType.GRAPH, g: branch('then', 1) }),
      onnx.AttributeProto.create({ name: 'else_branch', type: AttributeType.GRAPH, g: branch('else', -1) }),
    ],
    metadata_props: [meta('pkg.torch.onnx.name_scopes', "['', 'gate', 'where']")],
  });
  const fnCall = onnx.NodeProto.create({ name: 'call', op_type: 'MyAdd', domain: 'custom', input: ['z', 'w'], output: ['y'] });
  const slice = onnx.NodeProto.create({
    name: 'slice', op_type: 'Constant', output: ['big'],
    attribute: [onnx.AttributeProto.create({ name: 'value_ints', type: AttributeType.INTS, ints: [Long.MAX_VALUE, Long.MIN_VALUE, Long.fromNumber(-1)] })],
  });
  const sparse = onnx.SparseTensorProto.create({
    values: f32('sp', [2], [3.5, -2]),
    indices: onnx.TensorProto.create({ name: 'sp_idx', data_type: DataType.INT64, dims: [2], int64_data: [Long.fromNumber(1), Long.fromNumber(3)] }),
    dims: [4],
  });
  const graph = onnx.GraphProto.create({
    name: 'main', doc_string: 'graph doc',
    node: [ifNode, fnCall, slice],
    initializer: [f32('w', [2], [0.25, 4])],
    sparse_initializer: [sparse],
    input: [vi('x', [2]), onnx.ValueInfoProto.create({ name: 'cond', type: { tensor_type: { elem_type: DataType.BOOL, shape: { dim: [] } } } })],
    output: [vi('y', [2])],
    value_info: [vi('z', [2])],
    metadata_props: [meta('graph.key', 'graph value')],
  });
  const fn = onnx.FunctionProto.create({
    name: 'MyAdd', domain: 'custom', input: ['a', 'b'], output: ['c'], doc_string: 'a local function',
    node: [onnx.NodeProto.create({ op_type: 'Add', input: ['a', 'b'], output: ['c'] })],
    opset_import: [{ domain: '', version: 17 }],
  });
  const training = onnx.TrainingInfoProto.create({
    initialization: onnx.GraphProto.create({ name: 'init', node: [onnx.NodeProto.create({ op_type: 'Identity', input: ['w'], output: ['w_init'] })], output: [vi('w_init', [2])] }),
    algorithm: onnx.GraphProto.create({ name: 'algo', node: [onnx.NodeProto.create({ op_type: 'Identity', input: ['w'], output: ['w_new'] })], output: [vi('w_new', [2])] }),
    initialization_binding: [meta('w', 'w_init')],
    update_binding: [meta('w', 'w_new')],
  });
  return onnx.ModelProto.create({
    ir_version: 9, producer_name: 'roundtrip-test', producer_version: '1', domain: 'test', model_version: 7, doc_string: 'model doc',
    opset_import: [{ domain: '', version: 17 }, { domain: 'custom', version: 1 }],
    metadata_props: [meta('author', 'ModelFuse'), meta('empty', '')],
    graph, functions: [fn], training_info: [training],
  });
}

test('a model with functions, metadata, docs, value_info, sparse initializers, subgraphs and training_info survives load + save byte-identically', async () => {
  const dir = tempDir();
  const bytes = Buffer.from(onnx.ModelProto.encode(richModel()).finish());
  const input = path.join(dir, 'rich.onnx');
  fs.writeFileSync(input, bytes);
  const model = OnnxModel.load(input);
  const out = path.join(dir, 'rich.out.onnx');
  await saveModel(model, out);
  model.close();
  assert.deepEqual(fs.readFileSync(out), bytes);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rich.onnx', 'rich.out.onnx'], 'no temporary or data file left');

  const again = OnnxModel.load(out);
  const g = again.graph;
  assert.equal(again.proto.functions![0].doc_string, 'a local function');
  assert.equal(again.proto.training_info![0].update_binding![0].value, 'w_new');
  assert.equal(g.sparse_initializer![0].values?.name, 'sp');
  assert.equal(g.node![0].attribute![0].g?.initializer?.[0].name, 'then_c');
  assert.equal(g.node![0].metadata_props![0].value, "['', 'gate', 'where']");
  assert.equal(String(g.node![2].attribute![0].ints![0]), '9223372036854775807', 'INT64_MAX stays exact');
  again.close();
});

async function runOrt(modelPath: string, feeds: Record<string, ort.Tensor>): Promise<Buffer> {
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const out = await session.run(feeds);
    const y = out[session.outputNames[0]];
    return Buffer.from((y.data as Float32Array).buffer.slice(0));
  } finally {
    await session.release();
  }
}

for (const name of ['zoo_resstyle', 'zoo_conv_bn_relu_dynamo']) {
  test(`${name}: ONNX Runtime gives bit-identical outputs for the saved, unmodified model`, async () => {
    const dir = tempDir();
    const out = path.join(dir, 'copy.onnx');
    const model = OnnxModel.load(fixture(name, 'model.onnx'));
    await saveModel(model, out);
    model.close();
    const dims = readCase(name).inputs.x;
    const n = dims.reduce((a, b) => a * b, 1);
    let s = 12345;
    const data = Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 4 - 2);
    const feeds = { x: new ort.Tensor('float32', data, dims) };
    const a = await runOrt(fixture(name, 'model.onnx'), feeds);
    const b = await runOrt(out, feeds);
    assert.ok(a.length > 0);
    assert.deepEqual(b, a);
  });
}
