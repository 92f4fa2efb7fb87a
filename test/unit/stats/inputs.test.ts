import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkInputsFit, inputsFromSafetensors, parseIntRange, parseShapeOption, parseShapeOptions, randomInputs, resolveShape, SeededRandom,
  type ModelInputSpec,
} from '../../../extension/engine/stats/inputs';
import { float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { SafetensorsFile, tensorEntry, writeSafetensorsToFd } from '../../../extension/engine/safetensors/safetensors';
import { fixture, tempDir } from '../helpers/fixtures';
import { ModelFuseError, type ErrorCode } from '../../../extension/engine/errors';
import { cliErrorText } from '../../../extension/cli/remedyText';

/** The error's code, its text as the CLI prints it (the flag), and its front-end-neutral message. */
function throwsInCli(fn: () => unknown, code: ErrorCode, cli: RegExp, neutral: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ModelFuseError);
    assert.equal(err.code, code);
    assert.match(cliErrorText(err), cli);
    assert.match(err.message, neutral);
    assert.doesNotMatch(err.message, /(^|\s)--[a-z]/);
    return true;
  });
}

test('the PRNG is deterministic per seed and stream, and different across them', () => {
  const seq = (seed: number, stream: string) => {
    const r = new SeededRandom(seed, stream);
    return Array.from({ length: 8 }, () => r.nextUint32());
  };
  assert.deepEqual(seq(0, 'x'), seq(0, 'x'));
  assert.notDeepEqual(seq(0, 'x'), seq(1, 'x'));
  assert.notDeepEqual(seq(0, 'x'), seq(0, 'y'));
  assert.notDeepEqual(seq(0, 'x'), seq(2 ** 40, 'x'), 'high bits of a large seed count');
  for (const v of seq(0, '')) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});

test('normal(0,1) by Box–Muller has mean 0 and variance 1', () => {
  const r = new SeededRandom(42, 'n');
  const n = 200_000;
  let sum = 0;
  let sq = 0;
  let within1 = 0;
  for (let i = 0; i < n; i++) {
    const v = r.normal();
    assert.ok(Number.isFinite(v));
    sum += v;
    sq += v * v;
    if (Math.abs(v) < 1) within1++;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.015, `variance ${variance}`);
  assert.ok(Math.abs(within1 / n - 0.6827) < 0.005, `P(|z|<1) = ${within1 / n}`);
});

test('integers are uniform over [lo, hi) and never outside it', () => {
  const r = new SeededRandom(7, 'i');
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 50_000; i++) {
    const v = r.intIn(-3, 7);
    assert.ok(Number.isInteger(v) && v >= -3 && v < 7, `value ${v}`);
    counts[v + 3]++;
  }
  for (const c of counts) assert.ok(Math.abs(c - 5000) < 300, `bucket count ${c}`);
});

const specs: ModelInputSpec[] = [
  { name: 'x', dtype: 'float32', dims: ['batch', 3] },
  { name: 'ids', dtype: 'int64', dims: [2, null] },
];

test('random inputs: dynamic dims are 1, ints in the default [0, 10), and a description of how they were made', () => {
  const p = randomInputs(specs, { seed: 5 });
  const [x, ids] = p.tensors;
  assert.deepEqual(x.dims, [1, 3]);
  assert.ok(x.data instanceof Float32Array && x.data.length === 3);
  assert.deepEqual(ids.dims, [2, 1]);
  assert.ok(ids.data instanceof BigInt64Array);
  for (const v of ids.data as BigInt64Array) assert.ok(v >= 0n && v < 10n);
  assert.deepEqual(p.description, {
    source: 'random', seed: 5, int_range: [0, 10],
    tensors: {
      x: { dtype: 'float32', shape: [1, 3], values: 'normal(0,1)' },
      ids: { dtype: 'int64', shape: [2, 1], values: 'uniform integers [0, 10)' },
    },
  });
});

test("each input's values depend on the seed and its name only, not on the other inputs", () => {
  const both = randomInputs(specs, { seed: 3, shapes: { x: [4, 3] } });
  const alone = randomInputs([specs[0]], { seed: 3, shapes: { x: [4, 3] } });
  const reversed = randomInputs([specs[1], specs[0]], { seed: 3, shapes: { x: [4, 3] } });
  assert.deepEqual(both.tensors[0].data, alone.tensors[0].data);
  assert.deepEqual(both.tensors[0].data, reversed.tensors[1].data);
  assert.notDeepEqual(randomInputs(specs, { seed: 4, shapes: { x: [4, 3] } }).tensors[0].data, both.tensors[0].data);
});

test('shapes and integer ranges can be set, and are checked against the model', () => {
  const p = randomInputs(specs, { shapes: { x: [8, 3], ids: [2, 5] }, intRange: [100, 103] });
  assert.deepEqual(p.tensors.map((t) => t.dims), [[8, 3], [2, 5]]);
  for (const v of p.tensors[1].data as BigInt64Array) assert.ok(v >= 100n && v < 103n);
  throwsInCli(() => randomInputs(specs, { shapes: { x: [8, 4] } }), 'inputs/shape-fixed-dim', /^--shape x=8x4: dimension 1 of input 'x' is fixed to 3/, /^input shape x=8x4: dimension 1/);
  assert.throws(() => randomInputs(specs, { shapes: { x: [8] } }), /input 'x' has rank 2 \[batch, 3\], not 1/);
  assert.throws(() => randomInputs(specs, { shapes: { y: [1] } }), /the model has no input 'y' \(inputs: x, ids\)/);
  throwsInCli(() => randomInputs([{ name: 'm', dtype: 'uint8', dims: [2] }], { intRange: [0, 1000] }), 'inputs/int-range-type', /^--int-range 0,1000: does not fit input 'm' of type uint8/, /^integer range 0,1000: does not fit/);
  assert.deepEqual(resolveShape({ name: 's', dtype: 'float32', dims: [] }, [2, 2]), [2, 2], 'unknown rank takes the override');
});

test('float16 inputs carry float16 bits; bool inputs are 0/1', () => {
  const p = randomInputs([{ name: 'h', dtype: 'float16', dims: [1000] }, { name: 'b', dtype: 'bool', dims: [1000] }], { seed: 1 });
  const h = p.tensors[0].data as Uint16Array;
  assert.ok(h instanceof Uint16Array);
  const values = Array.from(h, float16FromBits);
  assert.ok(values.every(Number.isFinite) && values.some((v) => v < 0) && values.some((v) => v > 1));
  const b = p.tensors[1].data as Uint8Array;
  assert.ok(b.every((v) => v === 0 || v === 1) && b.includes(0) && b.includes(1));
});

test('--shape and --int-range syntax', () => {
  assert.deepEqual(parseShapeOption('x=1x3x224x224'), { name: 'x', dims: [1, 3, 224, 224] });
  assert.deepEqual(parseShapeOption('input.0=2'), { name: 'input.0', dims: [2] });
  for (const bad of ['x=1*3', 'x=', '=1x2', 'x=0x3', 'x=1x-2', 'x', 'x=1xx2', 'x=1.5']) {
    assert.throws(() => parseShapeOption(bad), /expected NAME=DIMxDIMx… with positive integers/, bad);
  }
  throwsInCli(() => parseShapeOptions(['x=1', 'x=2']), 'inputs/shape-twice', /^--shape given twice for input 'x'/, /^input shape given twice for input 'x'/);
  assert.deepEqual(parseIntRange('0,10'), [0, 10]);
  assert.deepEqual(parseIntRange('-5, 5'), [-5, 5]);
  assert.throws(() => parseIntRange('10,0'), /HI must be greater than LO/);
  assert.throws(() => parseIntRange('a,b'), /expected LO,HI/);
  assert.throws(() => parseIntRange('1'), /expected LO,HI/);
});

test('inputs from a safetensors file: `input.<name>` from the fixtures, exact values, checked type and shape', () => {
  const file = SafetensorsFile.open(fixture('zoo_conv_bn_relu', 'io.safetensors'));
  try {
    const spec: ModelInputSpec = { name: 'x', dtype: 'float32', dims: [2, 3, 16, 16] };
    const p = inputsFromSafetensors(file, [spec]);
    assert.deepEqual(p.description.tensors.x, { dtype: 'float32', shape: [2, 3, 16, 16], values: "file tensor 'input.x'" });
    assert.deepEqual(Float64Array.from(p.tensors[0].data as Float32Array), file.readFloat64('input.x'));
    assert.deepEqual(inputsFromSafetensors(file, [{ ...spec, dims: ['n', 3, 'h', 'w'] }]).tensors[0].dims, [2, 3, 16, 16], 'dynamic dims take the file shape');
    assert.throws(() => inputsFromSafetensors(file, [{ ...spec, dims: [1, 3, 16, 16] }]), /tensor 'input.x' has shape \[2, 3, 16, 16\] but model input 'x' is float32\[1, 3, 16, 16\]/);
    assert.throws(() => inputsFromSafetensors(file, [{ ...spec, dtype: 'float16' }]), /tensor 'input.x' is F32 but model input 'x' is float16/);
    assert.throws(() => inputsFromSafetensors(file, [{ ...spec, name: 'z' }]), /io.safetensors: no tensor for model input 'z' \(looked for 'z' and 'input.z'; the file has: .*input.x/);
  } finally {
    file.close();
  }
});

test('a tensor named exactly like the input wins over input.<name>', () => {
  const p = path.join(tempDir(), 'in.safetensors');
  const fd = fs.openSync(p, 'w');
  writeSafetensorsToFd(fd, [tensorEntry('ids', 'I64', [1, 2], [7, 8]), tensorEntry('input.ids', 'I64', [1, 2], [1, 2])]);
  fs.closeSync(fd);
  const file = SafetensorsFile.open(p);
  const got = inputsFromSafetensors(file, [{ name: 'ids', dtype: 'int64', dims: [1, 'n'] }]);
  file.close();
  assert.deepEqual([...(got.tensors[0].data as BigInt64Array)], [7n, 8n]);
});

test('the second model must take the same inputs', () => {
  const { tensors } = randomInputs(specs, {});
  checkInputsFit('b.onnx', specs, tensors, 'a.onnx');
  assert.throws(() => checkInputsFit('b.onnx', [specs[0]], tensors, 'a.onnx'), /b.onnx: has no input 'ids', which a.onnx takes/);
  assert.throws(() => checkInputsFit('b.onnx', [...specs, { name: 'z', dtype: 'float32', dims: [1] }], tensors, 'a.onnx'), /takes input 'z', which a.onnx does not/);
  assert.throws(() => checkInputsFit('b.onnx', [{ ...specs[0], dtype: 'float16' }, specs[1]], tensors, 'a.onnx'), /input 'x' is float16 but in a.onnx it is float32/);
  assert.throws(() => checkInputsFit('b.onnx', [{ ...specs[0], dims: [2, 3] }, specs[1]], tensors, 'a.onnx'), /does not accept the shape \[1, 3\]/);
});
