import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { onnx } from '../../../extension/engine/onnx/proto';
import { fixture, FUSION_CASES, tempDir } from '../helpers/fixtures';

test('every fixture loads, with opset and raw_data kept as views on the file buffer', () => {
  for (const c of FUSION_CASES) {
    const m = OnnxModel.load(fixture(c, 'model.onnx'));
    assert.ok(m.opset() >= 9, `${c}: opset`);
    const embedded = m.graph.initializer.find((t) => t.raw_data && t.raw_data.length > 0);
    if (embedded) assert.equal(embedded.raw_data!.buffer, m.fileBytes.buffer, `${c}: raw_data must be a view, not a copy`);
    m.close();
  }
});

test('round trip of an unmodified model is byte-identical after re-encoding', async () => {
  const dir = tempDir();
  for (const c of FUSION_CASES) {
    const m = OnnxModel.load(fixture(c, 'model.onnx'));
    const out = path.join(dir, `${c}.onnx`);
    await saveModel(m, out);
    const again = OnnxModel.load(out);
    const a = onnx.ModelProto.encode(m.proto).finish();
    const b = onnx.ModelProto.encode(again.proto).finish();
    if (!c.includes('dynamo')) assert.deepEqual(Buffer.from(b), fs.readFileSync(fixture(c, 'model.onnx')), `${c}: output bytes equal the input bytes`);
    else assert.ok(fs.existsSync(out + '.data'), 'external data stays external');
    assert.equal(a.length > 0, true);
    for (const t of m.graph.initializer) {
      const u = again.graph.initializer.find((x) => x.name === t.name)!;
      assert.deepEqual(Buffer.from(again.tensorBytes(u)), Buffer.from(m.tensorBytes(t)), `${c}: ${t.name}`);
    }
    m.close();
    again.close();
  }
});

test('a model that kept its weights external keeps new (folded) weights external too, in one data file', async () => {
  const dir = tempDir();
  const m = OnnxModel.load(fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'));
  // Stand-in for a fold: replace an external weight by a fresh embedded tensor of the same size.
  // (tensors under 1 KiB stay embedded, as in onnx's convert_model_to_external_data)
  const i = m.graph.initializer.findIndex((t) => t.data_location === 1 && (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 4) >= 1024);
  const old = m.graph.initializer[i];
  const values = m.tensorValues(old).map((v) => v * 2);
  const { makeTensor } = await import('../../../extension/engine/onnx/tensors');
  m.graph.initializer[i] = makeTensor(old.name!, old.data_type!, old.dims!.map(Number), values);
  const out = path.join(dir, 'fused.onnx');
  const res = await saveModel(m, out);
  assert.equal(res.externalData, out + '.data');
  const again = OnnxModel.load(out);
  const t = again.graph.initializer.find((x) => x.name === old.name)!;
  assert.equal(t.data_location, 1, 'the new tensor went to the data file');
  assert.deepEqual(Array.from(again.tensorValues(t)), Array.from(values));
  for (const x of again.graph.initializer) if (x.data_location === 1) assert.equal(x.external_data!.find((e) => e.key === 'location')?.value, 'fused.onnx.data');
  m.close();
  again.close();
});

test('a truncated model is reported as truncated, naming the file', () => {
  const bytes = fs.readFileSync(fixture('zoo_resstyle', 'model.onnx'));
  assert.throws(() => OnnxModel.fromBytes('cut.onnx', bytes.subarray(0, 3000)), /^ModelFuseError: cut\.onnx: not a valid ONNX model \(the file is truncated or corrupt/);
});
