/**
 * The ONNX Runtime layer of the worker, run in this test process: real ORT on
 * the fixtures, compared with the numbers PyTorch computed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { inputsFromSafetensors } from '../../../extension/engine/stats/inputs';
import { diffStats } from '../../../extension/engine/stats/outputDiff';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { createSession, releaseSession } from '../../../extension/workerProcess/ort/runtime';
import { runSession } from '../../../extension/workerProcess/ort/run';
import { feedsOf, outputValues, sessionInputs } from '../../../extension/workerProcess/ort/tensors';
import { optimizeModel } from '../../../extension/workerProcess/ort/optimize';
import { measureLatency } from '../../../extension/workerProcess/ort/latency';
import { matmulF32 } from '../../../extension/workerProcess/ort/ortMatmul';
import { fixture, FUSION_CASES, tempDir } from '../helpers/fixtures';
import { cliErrorText } from '../../../extension/cli/remedyText';
import { ModelFuseError } from '../../../extension/engine/errors';

const quiet = { progress: () => {}, throwIfCancelled: () => {} };

async function runOnFileInputs(model: string, io: string, expected: string): Promise<ReturnType<typeof diffStats>> {
  const session = await createSession(model, 'disabled');
  const file = SafetensorsFile.open(io);
  try {
    const inputs = inputsFromSafetensors(file, sessionInputs(session, model));
    const out = await runSession(session, feedsOf(inputs.tensors), model);
    const y = outputValues(out[session.outputNames[0]], session.outputNames[0], model);
    assert.deepEqual(y.dims, file.get(expected).shape);
    return diffStats(y.values, file.readFloat64(expected), { atol: 1e-5, rtol: 1e-4 });
  } finally {
    file.close();
    await releaseSession(session);
  }
}

test("ONNX Runtime on each fusion fixture's input.x reproduces PyTorch's output.y", async () => {
  for (const c of FUSION_CASES) {
    const s = await runOnFileInputs(fixture(c, 'model.onnx'), fixture(c, 'io.safetensors'), 'output.y');
    assert.ok(s.passed, `${c}: max_abs ${s.max_abs}, max_rel ${s.max_rel}`);
    assert.ok(s.cosine! > 0.9999999, `${c}: cosine ${s.cosine}`);
  }
});

test('int64 token-id inputs (input.ids) reproduce the LoRA fixture outputs', async () => {
  const c = 'lora_linear_qv';
  assert.ok((await runOnFileInputs(fixture(c, 'base.onnx'), fixture(c, 'io.safetensors'), 'base_output.y')).passed);
  assert.ok((await runOnFileInputs(fixture(c, 'peft_unmerged.onnx'), fixture(c, 'io.safetensors'), 'unmerged_output.y')).passed);
});

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('optimize extended: com.microsoft fusions, external data kept external, written atomically, input untouched', async () => {
  const dir = tempDir();
  const input = fixture('zoo_conv_bn_relu_dynamo', 'model.onnx');
  const before = [sha(input), sha(input + '.data')];
  const out = path.join(dir, 'opt.onnx');
  const r = await optimizeModel({ model: input, output: out, level: 'extended' }, quiet);
  assert.equal(r.output, out);
  assert.equal(r.externalData, out + '.data');
  assert.ok(r.nodesAfter < r.nodesBefore, `${r.nodesBefore} → ${r.nodesAfter}`);
  assert.ok(Object.keys(r.nonStandardOps).some((op) => op.startsWith('com.microsoft::')), JSON.stringify(r.nonStandardOps));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['opt.onnx', 'opt.onnx.data'], 'no temporary left behind');
  assert.deepEqual([sha(input), sha(input + '.data')], before, 'input unchanged');
  const m = OnnxModel.load(out); // external data resolves beside the output
  assert.ok(m.graph.initializer.some((t) => t.data_location === 1));
  m.close();
  // the optimized model computes the same function (ORT runs com.microsoft operators)
  const s = await runOnFileInputs(out, fixture('zoo_conv_bn_relu_dynamo', 'io.safetensors'), 'output.y');
  assert.ok(s.passed, `max_abs ${s.max_abs}`);

  await assert.rejects(optimizeModel({ model: input, output: out, level: 'extended' }, quiet), (e: unknown) => e instanceof ModelFuseError && e.code === 'output/exists' && /opt\.onnx: file exists \(use --force/.test(cliErrorText(e)));
  const again = await optimizeModel({ model: input, output: out, level: 'basic', force: true }, quiet);
  assert.deepEqual(again.nonStandardOps, {}, 'basic output is standard ONNX');
});

test('optimize: a model ORT cannot load leaves nothing behind; bad level refused', async () => {
  const dir = tempDir();
  const bad = path.join(dir, 'bad.onnx');
  fs.writeFileSync(bad, Buffer.from([0x08, 0x07, 0x12, 0x03, 0x61, 0x62])); // a ModelProto with ir_version 7 and no graph
  await assert.rejects(optimizeModel({ model: bad, output: path.join(dir, 'o.onnx'), level: 'basic' }, quiet), /bad\.onnx: /);
  assert.deepEqual(fs.readdirSync(dir), ['bad.onnx']);
  await assert.rejects(optimizeModel({ model: fixture('zoo_linear', 'model.onnx'), output: path.join(dir, 'o.onnx'), level: 'all' as 'basic' }, quiet), /expected basic or extended/);
  assert.deepEqual(fs.readdirSync(dir), ['bad.onnx']);
});

test('latency: median of N runs, with progress and cancel between runs', async () => {
  const seen: string[] = [];
  const r = await measureLatency({ model: fixture('zoo_linear', 'model.onnx'), runs: 5, warmups: 1, level: 'disabled' }, { progress: (m) => seen.push(m), throwIfCancelled: () => {} });
  assert.equal(r.runs, 5);
  assert.ok(r.min_ms > 0 && r.min_ms <= r.median_ms && r.median_ms <= r.max_ms);
  assert.ok(seen.includes('running model (5/5)'));
  let n = 0;
  await assert.rejects(
    measureLatency({ model: fixture('zoo_linear', 'model.onnx'), runs: 1000 }, { progress: () => {}, throwIfCancelled: () => { if (++n > 3) throw new Error('stop'); } }),
    /stop/,
  );
});

test('matmulF32 handles shapes of any size through one cached session', async () => {
  const c1 = await matmulF32(Float32Array.from([1, 2, 3, 4]), Float32Array.from([5, 6, 7, 8]), 2, 2, 2);
  assert.deepEqual([...c1], [19, 22, 43, 50]);
  const c2 = await matmulF32(Float32Array.from([1, 2, 3]), Float32Array.from([4, 5]), 3, 1, 2);
  assert.deepEqual([...c2], [4, 5, 8, 10, 12, 15]);
  const c3 = await matmulF32(Float32Array.from([1, 2, 3]), Float32Array.from([4, 5, 6]), 1, 3, 1);
  assert.deepEqual([...c3], [32]);
});
