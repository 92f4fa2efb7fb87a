/**
 * The PEFT 0.21 fixtures: merging their adapters must reproduce PEFT's own
 * `merge_and_unload()` (merged.safetensors, every tensor) and, for the ONNX
 * bases, make ONNX Runtime reproduce the merged PyTorch model's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fixture, LORA_CASES, tempDir } from '../helpers/fixtures';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { readAll, relErr, runLora } from './loraTestUtils';

async function runOnnx(model: string, caseName: string): Promise<{ got: Float32Array; want: Float64Array; base: Float64Array }> {
  const io = SafetensorsFile.open(fixture(caseName, 'io.safetensors'));
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const e of io.entries.values()) {
      if (!e.name.startsWith('input.')) continue;
      const name = e.name.slice('input.'.length);
      const bytes = io.readBytes(e.name);
      const data = e.dtype === 'I64' ? new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      feeds[name] = new ort.Tensor(e.dtype === 'I64' ? 'int64' : 'float32', data, e.shape);
    }
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
    try {
      const out = await session.run(feeds);
      return { got: out.y.data as Float32Array, want: io.readFloat64('merged_output.y'), base: io.readFloat64('base_output.y') };
    } finally {
      await session.release();
    }
  } finally {
    io.close();
  }
}

for (const c of LORA_CASES) {
  test(`${c}: merging into base.safetensors reproduces PEFT's merged.safetensors (every tensor, 1e-5 relative)`, async () => {
    const dir = tempDir();
    const out = path.join(dir, 'merged.safetensors');
    const r = await runLora([fixture(c, 'base.safetensors'), '--adapter', fixture(c, 'adapters'), '-o', out, '--json']);
    assert.equal(r.code, 0, r.err);
    const got = readAll(out);
    const want = readAll(fixture(c, 'merged.safetensors'));
    const base = readAll(fixture(c, 'base.safetensors'));
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    let changed = 0;
    for (const [name, w] of Object.entries(want)) {
      assert.deepEqual(got[name].shape, w.shape, name);
      const err = relErr(got[name].values, w.values, 1e-3);
      assert.ok(err <= 1e-5, `${name}: max rel err ${err}`);
      if (relErr(base[name].values, w.values, 1e-3) > 1e-5) changed++;
    }
    const report = JSON.parse(r.out);
    assert.equal(report.merged.length, changed, 'every tensor PEFT changed is reported as merged');
    assert.equal(report.verification, null);
    assert.deepEqual(report.unmatched, []);
    for (const m of report.merged) {
      assert.ok(m.delta_fro > 0 && m.rel_change > 0 && Number.isFinite(m.rel_change));
      assert.equal(m.scale, 2);
    }
  });

  test(`${c}: merging into base.onnx makes ONNX Runtime reproduce merged_output.y (1e-4 relative)`, async () => {
    const dir = tempDir();
    const out = path.join(dir, 'merged.onnx');
    const r = await runLora([fixture(c, 'base.onnx'), '--adapter', fixture(c, 'adapters'), '-o', out]);
    assert.equal(r.code, 0, r.err);
    const { got, want, base } = await runOnnx(out, c);
    const err = relErr(got, want, 1e-2);
    assert.ok(err <= 1e-4, `max rel err ${err}`);
    // and the merge did something: the base output is far from the merged one
    assert.ok(relErr(base, want, 1e-2) > 1e-3);
    // the input is untouched
    const original = await runOnnx(fixture(c, 'base.onnx'), c);
    assert.ok(relErr(original.got, base, 1e-2) < 1e-4);
  });
}

test('lora plan shows every pair with its evidence (bias Add of the transposed MatMul, node scope lost its prefix)', async () => {
  const r = await runLora(['plan', fixture('lora_linear_qv', 'base.onnx'), '--adapter', fixture('lora_linear_qv', 'adapters'), '--json']);
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out);
  assert.equal(plan.usable, true);
  const byModule = Object.fromEntries(plan.pairs.map((p: { module: string }) => [p.module, p]));
  assert.equal(byModule['layers.1.attn.q_proj'].target, 'onnx::MatMul_106');
  assert.equal(byModule['layers.1.attn.q_proj'].node, '/q_proj_1/MatMul');
  assert.equal(byModule['layers.1.attn.q_proj'].transposed, true);
  assert.ok(byModule['layers.1.attn.q_proj'].evidence.some((e: string) => e.includes("bias 'layers.1.attn.q_proj.bias'")));
  assert.equal(byModule['layers.0.attn.v_proj'].target, 'onnx::MatMul_102');
  assert.equal(plan.pairs.length, 4);
});

test('the merged ONNX model keeps every other initializer byte-identical and the input file unchanged', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'm.onnx');
  const before = fs.readFileSync(fixture('lora_conv', 'base.onnx'));
  const r = await runLora([fixture('lora_conv', 'base.onnx'), '--adapter', fixture('lora_conv', 'adapters'), '-o', out]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(fs.readFileSync(fixture('lora_conv', 'base.onnx')), before);
  const { OnnxModel } = await import('../../../extension/engine/onnx/model');
  const a = OnnxModel.load(fixture('lora_conv', 'base.onnx'));
  const b = OnnxModel.load(out);
  for (const t of a.graph.initializer) {
    const name = t.name ?? '';
    const u = b.graph.initializer.find((x) => x.name === name)!;
    const same = Buffer.compare(Buffer.from(a.tensorBytes(t)), Buffer.from(b.tensorBytes(u))) === 0;
    assert.equal(same, !['conv1.weight', 'conv2.weight', 'fc.weight'].includes(name), name);
  }
});
