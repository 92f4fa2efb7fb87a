/**
 * `lora --subtract` (diffusers' unfuse_lora): merge, then unmerge the same
 * adapters, and the base comes back within the rounding the command reports —
 * checked here value by value against the original, for float32 and float16
 * safetensors bases, an ONNX base, lora_bias and a LyCORIS full diff. What
 * cannot be unmerged (DoRA, modules_to_save) is refused with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { writeModel } from '../fusion/helpers/build';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { float16Bits, float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { rand, readAll, runLora, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

const P = 'base_model.model.';

interface Row { target: string; rounding_bound?: number }
interface Distance { tensor: string; max_abs: number; max_rel: number }

async function roundTrip(
  base: string,
  adapters: string[],
  ext: string,
): Promise<{ merged: string; unmerged: string; rows: Row[]; distances: Distance[]; text: string }> {
  const dir = path.dirname(base);
  const merged = path.join(dir, `merged${ext}`);
  const unmerged = path.join(dir, `unmerged${ext}`);
  const args = adapters.flatMap((a) => ['--adapter', a]);
  const m = await runLora([base, ...args, '-o', merged]);
  assert.equal(m.code, 0, m.err);
  const u = await runLora([merged, ...args, '-o', unmerged, '--subtract', '--original', base, '--json']);
  assert.equal(u.code, 0, u.err);
  const report = JSON.parse(u.out);
  const text = await runLora([merged, ...args, '-o', path.join(dir, `again${ext}`), '--subtract', '--original', base]);
  assert.equal(text.code, 0, text.err);
  return { merged, unmerged, rows: report.merged, distances: report.distance_from_original, text: text.out };
}

/** Every value of the unmerged tensor is within the reported bound of the original, and the reported distance is the real one. */
function checkRestored(
  name: string,
  original: ArrayLike<number>,
  merged: ArrayLike<number>,
  unmerged: ArrayLike<number>,
  rows: Row[],
  distances: Distance[],
): void {
  const bound = Math.max(...rows.filter((r) => r.target === name).map((r) => r.rounding_bound ?? NaN));
  assert.ok(bound > 0, `${name}: a rounding bound is reported`);
  let worst = 0;
  let moved = 0;
  for (let i = 0; i < original.length; i++) {
    worst = Math.max(worst, Math.abs(unmerged[i] - original[i]));
    moved = Math.max(moved, Math.abs(merged[i] - original[i]));
  }
  assert.ok(moved > 100 * bound, `${name}: the merge moved the weights (${moved}) far beyond the rounding (${bound})`);
  assert.ok(worst <= bound, `${name}: unmerged is ${worst} from the original, more than the reported bound ${bound}`);
  assert.equal(distances.find((d) => d.tensor === name)?.max_abs, worst, `${name}: reported distance is the measured one`);
}

test('float32 and float16 safetensors bases: PEFT LoRA with lora_bias, merged then subtracted, come back within the reported rounding', async () => {
  for (const dtype of ['F32', 'F16'] as const) {
    const dir = tempDir('unmerge-');
    const r = rand(dtype === 'F32' ? 1 : 2);
    const round = (x: T): T => (dtype === 'F16' ? { ...x, dtype, values: x.values.map((v) => float16FromBits(float16Bits(v))) } : x);
    const base = { 'fc.weight': round(r([6, 5])), 'fc.bias': round(r([6])), 'head.weight': round(r([3, 6])) };
    const basePath = path.join(dir, 'base.safetensors');
    writeSafetensors(basePath, base);
    const adapter = writePeftAdapter(path.join(dir, 'a'), { r: 2, lora_alpha: 4, lora_bias: true, target_modules: ['fc'] }, {
      [`${P}fc.lora_A.weight`]: r([2, 5]), [`${P}fc.lora_B.weight`]: r([6, 2]), [`${P}fc.lora_B.bias`]: r([6]),
    });
    const { merged, unmerged, rows, distances, text } = await roundTrip(basePath, [adapter], '.safetensors');
    const [m, u] = [readAll(merged), readAll(unmerged)];
    for (const name of ['fc.weight', 'fc.bias']) checkRestored(name, base[name as 'fc.weight'].values, m[name].values, u[name].values, rows, distances);
    assert.deepEqual(u['head.weight'].values, base['head.weight'].values, 'untouched tensors are copied as they were');
    assert.match(text, /unmerged \(--subtract\) into/);
    assert.match(text, /each value may differ from the original base by up to/);
    assert.match(text, /fc\.weight: max \|Δ\| .*, within the rounding bound/);
  }
});

test('ONNX base with a kohya LoRA and a LyCORIS full diff: subtract restores it within the rounding', async () => {
  const dir = tempDir('unmerge-onnx-');
  const r = rand(3);
  const [W1, W2] = [r([5, 6]), r([6, 4])]; // MatMul weights, [in, out]
  const basePath = writeModel(dir, 'base.onnx', {
    inputs: [{ name: 'x', dims: [1, 5] }],
    outputs: [{ name: 'y', dims: [1, 4] }],
    nodes: [
      { op: 'MatMul', name: '/fc1/MatMul', inputs: ['x', 'fc1.weight'], outputs: ['h'] },
      { op: 'MatMul', name: '/fc2/MatMul', inputs: ['h', 'fc2.weight'], outputs: ['y'] },
    ],
    initializers: [{ name: 'fc1.weight', dims: [5, 6], values: W1.values }, { name: 'fc2.weight', dims: [6, 4], values: W2.values }],
  });
  const adapter = path.join(dir, 'kohya.safetensors');
  writeSafetensors(adapter, {
    'lora_unet_fc1.lora_down.weight': r([2, 5]), 'lora_unet_fc1.lora_up.weight': r([6, 2]), 'lora_unet_fc1.alpha': { shape: [], values: Float64Array.of(1) },
    'lora_unet_fc2.diff': r([4, 6], 0.5),
  });
  const { merged, unmerged, rows, distances } = await roundTrip(basePath, [adapter], '.onnx');
  const values = (file: string, name: string): Float64Array => {
    const m = OnnxModel.load(file);
    try {
      return m.tensorValues(m.graph.initializer.find((t) => t.name === name)!);
    } finally {
      m.close();
    }
  };
  checkRestored('fc1.weight', W1.values, values(merged, 'fc1.weight'), values(unmerged, 'fc1.weight'), rows, distances);
  checkRestored('fc2.weight', W2.values, values(merged, 'fc2.weight'), values(unmerged, 'fc2.weight'), rows, distances);
});

test('what cannot be unmerged is refused with the reason, nothing written: DoRA, modules_to_save; --original needs --subtract', async () => {
  const dir = tempDir('unmerge-refused-');
  const r = rand(4);
  const basePath = path.join(dir, 'base.safetensors');
  writeSafetensors(basePath, { 'fc.weight': r([4, 4]), 'head.weight': r([2, 4]) });
  const dora = writePeftAdapter(path.join(dir, 'dora'), { r: 2, lora_alpha: 2, use_dora: true }, {
    [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([4, 2]), [`${P}fc.lora_magnitude_vector`]: r([4]),
  });
  const saved = writePeftAdapter(path.join(dir, 'saved'), { r: 2, lora_alpha: 2, modules_to_save: ['head'] }, {
    [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([4, 2]), [`${P}head.weight`]: r([2, 4]),
  });
  const out = path.join(dir, 'out.safetensors');
  const cases: [string[], RegExp][] = [
    [['--adapter', dora, '--subtract'], /--subtract: .* module 'fc' is DoRA; the merge divided by ‖W \+ ΔW‖, which the merged weight no longer tells/],
    [['--adapter', saved, '--subtract'], /--subtract: .* module 'head' replaced 'head\.weight' \(modules_to_save\); the original tensor is not in the adapter/],
    [['--adapter', saved, '--original', basePath], /--original compares an unmerged model with its original base; it needs --subtract/],
  ];
  for (const [args, reason] of cases) {
    const res = await runLora([basePath, ...args, '-o', out]);
    assert.equal(res.code, 2);
    assert.match(res.err, reason);
    assert.ok(!fs.existsSync(out), 'nothing written');
  }
});
