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
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { encodeModel, makeGraph, makeMetadata, makeModel, makeNode, makeOpsetId, makeTensor, makeValueInfo } from '../helpers/onnxBuilder';
import { fixture, readCase, tempDir } from '../helpers/fixtures';

const f32 = (name: string, dims: number[], values: number[]) =>
  Object.assign(makeTensor(name, DataType.FLOAT, dims, values), { doc_string: `doc of ${name}` });
const vi = (name: string, dims: number[]) => Object.assign(makeValueInfo(name, DataType.FLOAT, dims), { doc_string: `value ${name}` });

function richModel(): onnx.ModelProto {
  const branch = (name: string, value: number) =>
    makeGraph([makeNode('Add', ['x', `${name}_c`], [`${name}_out`], `${name}_add`)], name, [], [vi(`${name}_out`, [2])], [f32(`${name}_c`, [1], [value])]);
  const ifNode = makeNode('If', ['cond'], ['z'], 'branch', { then_branch: { graph: branch('then', 1) }, else_branch: { graph: branch('else', -1) } }, {
    docString: 'an If with two subgraphs',
    metadata: { 'pkg.torch.onnx.name_scopes': "['', 'gate', 'where']" },
  });
  const fnCall = makeNode('MyAdd', ['z', 'w'], ['y'], 'call', {}, { domain: 'custom' });
  const slice = makeNode('Constant', [], ['big'], 'slice', { value_ints: [Long.MAX_VALUE, Long.MIN_VALUE, Long.fromNumber(-1)] });
  const sparse = onnx.SparseTensorProto.create({
    values: f32('sp', [2], [3.5, -2]),
    indices: makeTensor('sp_idx', DataType.INT64, [2], [Long.fromNumber(1), Long.fromNumber(3)], { raw: false }),
    dims: [4],
  });
  const graph = Object.assign(makeGraph([ifNode, fnCall, slice], 'main', [vi('x', [2]), makeValueInfo('cond', DataType.BOOL, [])], [vi('y', [2])], [f32('w', [2], [0.25, 4])], [vi('z', [2])]), {
    doc_string: 'graph doc',
    sparse_initializer: [sparse],
    metadata_props: makeMetadata({ 'graph.key': 'graph value' }),
  });
  const fn = onnx.FunctionProto.create({
    name: 'MyAdd', domain: 'custom', input: ['a', 'b'], output: ['c'], doc_string: 'a local function',
    node: [makeNode('Add', ['a', 'b'], ['c'])],
    opset_import: [makeOpsetId('', 17)],
  });
  const identityGraph = (name: string, out: string) => makeGraph([makeNode('Identity', ['w'], [out])], name, [], [vi(out, [2])]);
  const training = onnx.TrainingInfoProto.create({
    initialization: identityGraph('init', 'w_init'),
    algorithm: identityGraph('algo', 'w_new'),
    initialization_binding: makeMetadata({ w: 'w_init' }),
    update_binding: makeMetadata({ w: 'w_new' }),
  });
  return Object.assign(
    makeModel(graph, { irVersion: 9, producerName: 'roundtrip-test', producerVersion: '1', opset: [makeOpsetId('', 17), makeOpsetId('custom', 1)], metadata: { author: 'ModelFuse', empty: '' } }),
    { domain: 'test', model_version: 7, doc_string: 'model doc', functions: [fn], training_info: [training] },
  );
}

test('a model with functions, metadata, docs, value_info, sparse initializers, subgraphs and training_info survives load + save byte-identically', async () => {
  const dir = tempDir();
  const bytes = Buffer.from(encodeModel(richModel()));
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
