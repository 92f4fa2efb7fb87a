/**
 * `node dist/cli.js verify …` exactly as users and the extension call it: the
 * bundled CLI (built fresh for this test), real ONNX Runtime in the worker,
 * exit codes 0 / 1 / 2, the --json shape, one-line errors.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { tensorDims } from '../../../extension/engine/onnx/tensors';
import { DataType, type onnx } from '../../../extension/engine/onnx/proto';
import { tensorEntry, writeSafetensorsToFd } from '../../../extension/engine/safetensors/safetensors';
import type { VerifyReport } from '../../../extension/protocol/workerProtocol';
import { fixture, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { npyBytes, writeFpnModel, writeZeroModel } from '../stats/dynamicModels';

const MODEL = fixture('zoo_conv_bn_relu', 'model.onnx');
const IO = fixture('zoo_conv_bn_relu', 'io.safetensors');
const dir = tempDir();

/**
 * A one-node model for cases the fixtures do not cover: `op` (named `<op>_0`)
 * reads the graph inputs then the initializers and writes the graph outputs.
 */
function writeOneNode(name: string, op: string, inputs: onnx.ValueInfoProto[], outputs: onnx.ValueInfoProto[], initializers: onnx.TensorProto[] = []): string {
  const node = makeNode(op, [...inputs, ...initializers].map((v) => v.name), outputs.map((v) => v.name), `${op.toLowerCase()}_0`);
  return writeModel(path.join(dir, name), makeModel(makeGraph([node], 'tiny', inputs, outputs, initializers), { producerName: 'modelfuse-tests' }));
}

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, ...args], { encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function verifyJson(...args: string[]): { code: number; report: VerifyReport; stderr: string } {
  const r = cli('verify', ...args, '--json');
  assert.ok(r.stdout.trim().startsWith('{'), `expected JSON on stdout, got: ${r.stdout}${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
}

/** A copy of the fixture with one Conv weight element scaled by `factor`. */
async function perturbedCopy(name: string, factor: number): Promise<string> {
  const m = OnnxModel.load(MODEL);
  const conv = m.graph.node.find((n) => n.op_type === 'Conv')!;
  const w = m.graph.initializer.find((t) => t.name === conv.input![1])!;
  const values = m.tensorValues(w);
  values[0] *= factor;
  m.graph.initializer[m.graph.initializer.indexOf(w)] = makeTensor(w.name!, w.data_type!, tensorDims(w), values);
  const out = path.join(dir, name);
  await saveModel(m, out);
  m.close();
  return out;
}

test('a model verified against itself passes with zero differences, and --json has the contract shape', () => {
  const { code, report } = verifyJson(MODEL, MODEL, '--runs', '2');
  assert.equal(code, 0);
  assert.equal(report.passed, true);
  const y = report.outputs.y;
  for (const k of ['max_abs', 'mean_abs', 'median_abs', 'p99_abs', 'max_rel', 'mean_rel', 'median_rel', 'p99_rel'] as const) assert.equal(y[k], 0, k);
  assert.equal(y.cosine, 1);
  assert.equal(y.passed, true);
  for (const m of ['a', 'b'] as const) {
    for (const level of ['disabled', 'all'] as const) {
      const v = report.latency_ms![m][level];
      assert.ok(typeof v === 'number' && v > 0, `latency_ms.${m}.${level} = ${v}`);
    }
  }
  assert.deepEqual(report.inputs, {
    source: 'random', seed: 0,
    tensors: { x: { dtype: 'float32', shape: [2, 3, 16, 16], values: 'normal(0,1)', declared: [2, 3, 16, 16], shape_from: 'fixed by the model' } },
  });
  assert.deepEqual(report.weak, []);
});

test('a deliberately perturbed copy fails with exit 1 and says which output and by how much', async () => {
  const bad = await perturbedCopy('perturbed.onnx', 1.5);
  const { code, report } = verifyJson(MODEL, bad, '--runs', '0');
  assert.equal(code, 1);
  assert.equal(report.passed, false);
  assert.equal(report.outputs.y.passed, false);
  assert.ok(report.outputs.y.max_abs! > 1e-4, `max_abs ${report.outputs.y.max_abs}`);
  assert.ok(report.outputs.y.mismatched > 0);
  assert.match(report.outputs.y.reason!, /elements differ by more than atol 0.0001 \+ rtol 0.001/);
  assert.equal(report.latency_ms, null, '--runs 0 skips timing');
  const human = cli('verify', MODEL, bad, '--runs', '0');
  assert.equal(human.code, 1);
  assert.match(human.stdout, /^inputs: x float32\[2, 3, 16, 16\] \(random normal\(0,1\), seed 0\)$/m);
  assert.match(human.stdout, /^y +float32\[2, 4, 16, 16\] +[0-9.e+-]+ .* FAIL — /m);
  assert.match(human.stdout, /FAILED: y differs beyond atol 0.0001 \+ rtol 0.001·\|b\|/);
});

test('a change within tolerance passes but is measured; tightening --atol/--rtol makes it fail', async () => {
  const slight = await perturbedCopy('slight.onnx', 1 + 1e-5);
  const loose = verifyJson(MODEL, slight, '--runs', '0');
  assert.equal(loose.code, 0);
  assert.ok(loose.report.outputs.y.max_abs! > 0, 'the difference is reported even when it passes');
  const strict = verifyJson(MODEL, slight, '--runs', '0', '--atol', '0', '--rtol', '0');
  assert.equal(strict.code, 1);
  assert.deepEqual(strict.report.tolerance, { atol: 0, rtol: 0 });
});

test("--inputs uses the fixture's input.x, and the same seed gives the same report", () => {
  const { code, report } = verifyJson(MODEL, fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'), '--inputs', IO, '--runs', '0');
  assert.deepEqual(report.inputs, { source: 'file', file: IO, tensors: { x: { dtype: 'float32', shape: [2, 3, 16, 16], values: "file tensor 'input.x'" } } });
  assert.equal(code, 1, 'the two exports hold different weights (independently initialized models)');
  const s1 = verifyJson(MODEL, fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'), '--seed', '9', '--runs', '0');
  const s2 = verifyJson(MODEL, fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'), '--seed', '9', '--runs', '0');
  const s3 = verifyJson(MODEL, fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'), '--seed', '10', '--runs', '0');
  assert.deepEqual(s1.report.outputs, s2.report.outputs);
  assert.notEqual(s1.report.outputs.y.max_abs, s3.report.outputs.y.max_abs);
});

test('integer inputs: token ids in [0, 10) by default, settable with --int-range; out-of-vocabulary ids are a clear error', () => {
  const base = fixture('lora_linear_qv', 'base.onnx');
  const unmerged = fixture('lora_linear_qv', 'peft_unmerged.onnx');
  const same = verifyJson(base, base, '--runs', '0', '--int-range', '5,64');
  assert.equal(same.code, 0);
  assert.deepEqual(same.report.inputs.int_range, [5, 64]);
  assert.equal(same.report.inputs.tensors.ids.values, 'uniform integers [5, 64)');
  const lora = verifyJson(base, unmerged, '--runs', '0');
  assert.equal(lora.code, 1, 'an unmerged LoRA changes the outputs');
  assert.ok(lora.report.outputs.y.cosine! > 0.99 && lora.report.outputs.y.cosine! < 1);
  const oov = cli('verify', base, unmerged, '--runs', '0', '--int-range', '0,1000');
  assert.equal(oov.code, 2);
  assert.equal(oov.stderr.trim().split('\n').length, 1, oov.stderr);
  assert.match(oov.stderr, /^modelfuse verify: .*base\.onnx: ONNX Runtime failed to run this model: node '\/embed\/Gather' \(Gather\) read an index outside its table \(valid -64…63, got \d+\) — integer inputs are out of range/);
});

test('dynamic dimensions default to 1 and follow --shape', () => {
  const model = writeOneNode('dyn.onnx', 'Relu', [makeValueInfo('x', DataType.FLOAT, ['batch', 4])], [makeValueInfo('y', DataType.FLOAT, ['batch', 4])]);
  assert.deepEqual(verifyJson(model, model, '--runs', '0').report.inputs.tensors.x.shape, [1, 4]);
  const shaped = verifyJson(model, model, '--runs', '0', '--shape', 'x=3x4');
  assert.equal(shaped.code, 0);
  assert.deepEqual(shaped.report.inputs.tensors.x.shape, [3, 4]);
  assert.deepEqual(shaped.report.outputs.y.shape, [3, 4]);
  const wrong = cli('verify', model, model, '--shape', 'x=3x5');
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--shape x=3x5: dimension 1 of input 'x' is fixed to 4/);
});

test('a dynamic-shape image model is verified at the sizes chosen from the model, and the report says which and why', () => {
  const model = writeFpnModel(dir, 'fpn.onnx');
  const { code, report } = verifyJson(model, model, '--runs', '0');
  assert.equal(code, 0);
  assert.deepEqual(report.inputs.tensors.x.shape, [1, 3, 224, 224]);
  assert.equal(report.inputs.tensors.x.shape_from, 'batch 1; 224×224: image input, a multiple of the total stride 4');
  assert.deepEqual(report.outputs.y.shape, [1, 1, 112, 112]);
  assert.deepEqual(report.weak, []);
  const text = cli('verify', model, model, '--runs', '0');
  assert.match(text.stdout, /^inputs: x float32\[1, 3, 224, 224\] \(random normal\(0,1\), seed 0\)$/m);
  assert.match(text.stdout, /^ {2}x \(declared \[batch, 3, height, width\]\): batch 1; 224×224: image input, a multiple of the total stride 4$/m);
  assert.match(text.stdout, /^PASSED: every output agrees/m);
});

test('a degenerate check is reported as weak, not verified: 1×1 under 3×3 kernels, an all-zero output', () => {
  const model = writeFpnModel(dir, 'fpn-weak.onnx');
  const tiny = verifyJson(model, model, '--runs', '0', '--shape', 'x=1x3x1x1');
  assert.equal(tiny.code, 0, 'the outputs do agree; the verdict is in `weak`');
  assert.equal(tiny.report.passed, true);
  assert.match(tiny.report.weak[0], /^Conv 'conv1' gets a 1×1 input under a 3×3 window/);
  const text = cli('verify', model, model, '--runs', '0', '--shape', 'x=1x3x1x1');
  assert.match(text.stdout, /^WEAK CHECK \(not verified\): every output agrees within .*, but Conv 'conv1' gets a 1×1 input/m);
  assert.doesNotMatch(text.stdout, /PASSED/);
  const zero = writeZeroModel(dir);
  const z = verifyJson(zero, zero, '--runs', '0');
  assert.deepEqual(z.report.weak, ["output 'y' is all zeros for this input"]);
});

test('--inputs takes a .npy file for a single-input model', () => {
  const model = writeFpnModel(dir, 'fpn-npy.onnx');
  const values = Float32Array.from({ length: 3 * 64 * 48 }, (_, i) => Math.sin(i));
  const file = path.join(dir, 'image.npy');
  fs.writeFileSync(file, npyBytes('<f4', [1, 3, 64, 48], new Uint8Array(values.buffer)));
  const { code, report } = verifyJson(model, model, '--runs', '0', '--inputs', file);
  assert.equal(code, 0);
  assert.deepEqual(report.inputs, { source: 'file', file, tensors: { x: { dtype: 'float32', shape: [1, 3, 64, 48], values: 'the .npy array' } } });
  assert.deepEqual(report.outputs.y.shape, [1, 1, 32, 24]);
});

test('outputs are matched by name: missing, extra, reshaped and NaN/Inf outputs fail with reasons', () => {
  const x = [makeValueInfo('x', DataType.FLOAT, [2, 3])];
  const a = writeOneNode('a.onnx', 'Relu', x, [makeValueInfo('y', DataType.FLOAT, [2, 3])]);
  const renamed = writeOneNode('renamed.onnx', 'Relu', x, [makeValueInfo('z', DataType.FLOAT, [2, 3])]);
  const transposed = writeOneNode('t.onnx', 'Transpose', x, [makeValueInfo('y', DataType.FLOAT, [3, 2])]);
  const divZero = writeOneNode('div.onnx', 'Div', x, [makeValueInfo('y', DataType.FLOAT, [2, 3])], [makeTensor('zero', DataType.FLOAT, [1], [0])]);
  const r1 = verifyJson(a, renamed, '--runs', '0');
  assert.equal(r1.code, 1);
  assert.equal(r1.report.outputs.y.reason, 'missing in B');
  assert.equal(r1.report.outputs.z.reason, 'extra output in B (not in A)');
  assert.equal(r1.report.outputs.y.max_abs, null);
  const r2 = verifyJson(a, transposed, '--runs', '0');
  assert.equal(r2.code, 1);
  assert.equal(r2.report.outputs.y.reason, 'shape [2, 3] in A but [3, 2] in B');
  const r3 = verifyJson(a, divZero, '--runs', '0');
  assert.equal(r3.code, 1);
  assert.equal(r3.report.outputs.y.nonfinite_mismatched, 6, 'x/0 is ±Inf where Relu(x) is finite');
  assert.match(r3.report.outputs.y.reason!, /6 elements are NaN\/Inf in one model only/);
});

test('bad input: one line on stderr naming the problem, exit 2', () => {
  const corrupt = path.join(dir, 'corrupt.onnx');
  fs.writeFileSync(corrupt, 'not a model');
  const wrongShape = path.join(dir, 'wrong-shape.safetensors');
  const fd = fs.openSync(wrongShape, 'w');
  writeSafetensorsToFd(fd, [tensorEntry('input.x', 'F32', [1, 3, 16, 16], new Float64Array(768))]);
  fs.closeSync(fd);
  const otherInputs = writeOneNode('other-inputs.onnx', 'Relu', [makeValueInfo('w', DataType.FLOAT, [2, 3, 16, 16])], [makeValueInfo('y', DataType.FLOAT, [2, 3, 16, 16])]);
  const cases: [string[], RegExp][] = [
    [[path.join(dir, 'missing.onnx'), MODEL], /missing\.onnx: file not found$/],
    [[MODEL, corrupt], /corrupt\.onnx: ONNX Runtime cannot load this model: /],
    [[MODEL, MODEL, '--shape', 'x=1*3'], /--shape 'x=1\*3': expected NAME=DIMxDIMx… with positive integers, e\.g\. x=1x3x224x224$/],
    [[MODEL, MODEL, '--shape', 'nope=1x2'], /--shape nope=…: the model has no input 'nope' \(inputs: x\)$/],
    [[MODEL, MODEL, '--inputs', wrongShape], /wrong-shape\.safetensors: tensor 'input\.x' has shape \[1, 3, 16, 16\] but model input 'x' is float32\[2, 3, 16, 16\]$/],
    [[MODEL, MODEL, '--inputs', path.join(dir, 'none.safetensors')], /none\.safetensors: file not found$/],
    [[MODEL, MODEL, '--inputs', IO, '--seed', '3'], /cannot be combined with --inputs$/],
    [[MODEL, MODEL, '--int-range', '5,1'], /--int-range '5,1': HI must be greater than LO/],
    [[MODEL, MODEL, '--atol', '-1'], /--atol '-1': expected a non-negative number$/],
    [[MODEL, MODEL, '--runs', '2.5'], /--runs '2\.5': expected an integer ≥ 0$/],
    [[MODEL], /expected A B; usage: verify A B/],
    [[MODEL, otherInputs], /other-inputs\.onnx: has no input 'x', which .*model\.onnx takes: the two models cannot run on the same inputs$/],
  ];
  for (const [args, expected] of cases) {
    const r = cli('verify', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing on stdout');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0], /^modelfuse verify: /);
    assert.match(lines[0], expected);
  }
});

test('float16 models are fed float16 inputs and compared; bfloat16 I/O is refused with the reason', () => {
  const f16 = (name: string, op: string) => writeOneNode(name, op, [makeValueInfo('x', DataType.FLOAT16, [4, 8])], [makeValueInfo('y', DataType.FLOAT16, [4, 8])]);
  const relu = f16('relu16.onnx', 'Relu');
  const same = verifyJson(relu, relu, '--runs', '0');
  assert.equal(same.code, 0);
  assert.equal(same.report.inputs.tensors.x.dtype, 'float16');
  assert.equal(same.report.outputs.y.dtype, 'float16');
  const neg = verifyJson(relu, f16('neg16.onnx', 'Neg'), '--runs', '0');
  assert.equal(neg.code, 1);
  assert.ok(neg.report.outputs.y.cosine! < 0, 'Relu(x) and -x point apart');
  const bf16 = writeOneNode('bf16.onnx', 'Identity', [makeValueInfo('x', DataType.BFLOAT16, [2])], [makeValueInfo('y', DataType.BFLOAT16, [2])]);
  const r = cli('verify', bf16, bf16, '--runs', '0');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bf16\.onnx: ONNX Runtime cannot load this model: .*onnxruntime-node cannot exchange bfloat16 tensors/);
});

test('Ctrl-C cancels a running verify: exit 130, "cancelled", and no worker left behind', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, [testBundles().cli, 'verify', MODEL, MODEL, '--runs', '100000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  // The SIGINT handler is installed before the worker is forked: once the worker exists, Ctrl-C is ours to handle.
  const children = () => {
    try {
      return fs.readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  let workers: number[] = [];
  while ((workers = children()).length === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300)); // let it get into the timed runs (either way the answer is the same)
  proc.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.equal(stderr.trim(), 'modelfuse verify: cancelled');
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
});
