import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  describeModelInputs, formatShapes, parseShapesText, readModelVerifyInputs, verifyParamsOf,
} from '../../../extension/host/verifyInputsSettings';

test('per-model verification inputs: shapes and seed, or an inputs file resolved beside the model', () => {
  const all = { 'models/det.onnx': { shapes: { x: [1, 3, 640, 640] }, seed: 7 }, 'cls.onnx': { inputs: 'crops/a.npy' } };
  const det = readModelVerifyInputs(all, 'models/det.onnx');
  assert.deepEqual(det, { value: { shapes: { x: [1, 3, 640, 640] }, seed: 7 }, problems: [] });
  assert.deepEqual(verifyParamsOf(det.value, '/w/models/det.onnx'), { shapes: { x: [1, 3, 640, 640] }, seed: 7 });
  const cls = readModelVerifyInputs(all, 'cls.onnx').value;
  assert.deepEqual(verifyParamsOf(cls, '/w/cls.onnx'), { inputs: path.resolve('/w/crops/a.npy') });
  assert.equal(describeModelInputs(det.value), 'shapes x=1x3x640x640, seed 7');
  assert.equal(describeModelInputs(cls), 'inputs from crops/a.npy');
  assert.equal(describeModelInputs({}), 'shapes chosen from the model, seed 0');
  assert.deepEqual(readModelVerifyInputs(undefined, 'x.onnx'), { value: {}, problems: [] });
});

test('invalid entries are reported, naming the setting, and left out', () => {
  const r = readModelVerifyInputs({ 'm.onnx': { shapes: { x: [1, 0] }, seed: 1.5, inputs: 'a.txt' } }, 'm.onnx');
  assert.deepEqual(r.value, {});
  assert.deepEqual(r.problems, [
    'modelfuse.verify.models["m.onnx"].shapes must map input names to lists of positive integers, e.g. { "x": [1, 3, 640, 640] }',
    'modelfuse.verify.models["m.onnx"].seed must be an integer',
    'modelfuse.verify.models["m.onnx"].inputs must be a .safetensors or .npy file',
  ]);
  const both = readModelVerifyInputs({ 'm.onnx': { inputs: 'a.npy', seed: 3 } }, 'm.onnx');
  assert.deepEqual(both.value, { inputs: 'a.npy' });
  assert.match(both.problems[0], /an inputs file fixes shapes and values; shapes and seed are ignored/);
  assert.deepEqual(readModelVerifyInputs([1], 'm.onnx').problems, ['modelfuse.verify.models must be an object keyed by model path']);
});

test('shapes text round-trips; separators are spaces, commas or semicolons; errors use the CLI wording', () => {
  const shapes = { x: [1, 3, 640, 480], mask: [1, 16] };
  assert.equal(formatShapes(shapes), 'x=1x3x640x480 mask=1x16');
  assert.deepEqual(parseShapesText(formatShapes(shapes)), shapes);
  assert.deepEqual(parseShapesText('x=1x3x32x32; y=2,z=4'), { x: [1, 3, 32, 32], y: [2], z: [4] });
  assert.throws(() => parseShapesText('x=1x0'), /input shape 'x=1x0': expected NAME=DIMxDIMx… with positive integers/);
  assert.throws(() => parseShapesText('x=1 x=2'), /input shape given twice for input 'x'/);
});

test('an entry read from VS Code settings (a proxy) can be sent to the worker: structured clone of the result works', () => {
  // VS Code's configuration values are Proxies; posting one to a worker fails with "could not be cloned".
  const proxied = new Proxy({ 'det.onnx': new Proxy({ shapes: new Proxy({ x: new Proxy([1, 3, 1, 1], {}) }, {}) }, {}) }, {});
  assert.throws(() => structuredClone(proxied), /could not be cloned/);
  const read = readModelVerifyInputs(proxied, 'det.onnx');
  const params = verifyParamsOf(read.value, '/w/det.onnx');
  assert.deepEqual(structuredClone(params), { shapes: { x: [1, 3, 1, 1] } });
});
