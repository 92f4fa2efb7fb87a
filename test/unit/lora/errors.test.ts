/**
 * User errors: one clear line naming the file and the problem, and nothing
 * written — no output, no temporaries left beside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { rand, runLora, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

const P = 'base_model.model.';

function setup(
  adapterTensors: (r: ReturnType<typeof rand>) => Record<string, T>,
  config: Record<string, unknown> = { r: 2, lora_alpha: 2 },
  base?: Record<string, T>,
) {
  const r = rand(21);
  const dir = tempDir();
  const basePath = path.join(dir, 'base.safetensors');
  writeSafetensors(basePath, base ?? { 'fc.weight': r([6, 4]), 'fc.bias': r([6]), 'head.weight': r([3, 6]) });
  const adapter = writePeftAdapter(path.join(dir, 'adapter'), config, adapterTensors(r));
  const out = path.join(dir, 'out.safetensors');
  const nothingWritten = (): void => {
    assert.ok(!fs.existsSync(out), 'no output');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temporaries');
  };
  return { dir, basePath, adapter, out, nothingWritten, r };
}

test('shape mismatch: an error naming the module, the adapter shapes and the base tensor shape', async () => {
  const s = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 5]), [`${P}fc.lora_B.weight`]: r([6, 2]) }));
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.equal(res.code, 2);
  assert.match(res.err, /shape mismatch: .*adapter_model\.safetensors module 'fc' \(lora_A \[2, 5\], lora_B \[6, 2\]\) makes a delta of \[6, 5\] but base tensor 'fc\.weight' is \[6, 4\]/);
  s.nothingWritten();
});

test('a transposed-looking shape hints at a missing fan_in_fan_out', async () => {
  const s = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 6]), [`${P}fc.lora_B.weight`]: r([4, 2]) }));
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.match(res.err, /looks transposed: is fan_in_fan_out missing/);
  s.nothingWritten();
});

test('a NaN in an adapter stops before anything is written, naming the key', async () => {
  const s = setup((r) => {
    const A = r([2, 4]);
    A.values[5] = NaN;
    return { [`${P}fc.lora_A.weight`]: A, [`${P}fc.lora_B.weight`]: r([6, 2]) };
  });
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.equal(res.code, 2);
  assert.match(res.err, /adapter_model\.safetensors: 'base_model\.model\.fc\.lora_A\.weight' contains NaN \(value 5\); the adapter is broken, nothing was written/);
  s.nothingWritten();
});

test('a float16 overflow in a merged tensor stops the merge with the tensor name; the atomic write leaves nothing', async () => {
  const r = rand(22);
  const W = r([6, 4]);
  W.dtype = 'F16';
  const s = setup(() => ({ [`${P}fc.lora_A.weight`]: { shape: [1, 4], values: Float64Array.of(300, 1, 1, 1) }, [`${P}fc.lora_B.weight`]: { shape: [6, 1], values: Float64Array.of(300, 0, 0, 0, 0, 0) } }), { r: 1, lora_alpha: 1 }, { 'a.weight': r([2, 2]), 'fc.weight': W });
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.equal(res.code, 2);
  assert.match(res.err, /merged tensor 'fc\.weight' value 0 is 8999\d(\.\d+)?, beyond float16's range .*nothing was written/);
  s.nothingWritten();
});

test('unmatched adapter modules are an error listing them; --allow-unmatched merges the rest and reports them', async () => {
  const s = setup((r) => ({
    [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([6, 2]),
    [`${P}missing.lora_A.weight`]: r([2, 4]), [`${P}missing.lora_B.weight`]: r([6, 2]),
  }));
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.equal(res.code, 2);
  assert.match(res.err, /unmatched: .*adapter module 'missing': no tensor 'missing\.weight'/);
  s.nothingWritten();
  const plan = await runLora(['plan', s.basePath, '--adapter', s.adapter]);
  assert.equal(plan.code, 2);
  assert.match(plan.out, /unmatched \(1\):/);
  const ok = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out, '--allow-unmatched', '--json']);
  assert.equal(ok.code, 0, ok.err);
  const report = JSON.parse(ok.out);
  assert.deepEqual(report.merged.map((m: { key: string }) => m.key), ['fc']);
  assert.deepEqual(report.unmatched.map((u: { module: string }) => u.module), ['missing']);
});

test('keys that are not LoRA weights are refused, not skipped', async () => {
  const s = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([6, 2]), [`${P}fc.hada_w1_a`]: r([2, 4]) }));
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.match(res.err, /keys that are not LoRA weights of the peft format: base_model\.model\.fc\.hada_w1_a/);
  s.nothingWritten();
});

test('adapter_model.bin (pickle) is refused with a clear message and never read', async () => {
  const dir = tempDir();
  const folder = path.join(dir, 'adapter');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'adapter_config.json'), JSON.stringify({ r: 2, lora_alpha: 2 }));
  fs.writeFileSync(path.join(folder, 'adapter_model.bin'), 'not really a pickle');
  const base = path.join(dir, 'b.safetensors');
  writeSafetensors(base, { 'fc.weight': rand(1)([2, 2]) });
  for (const a of [folder, path.join(folder, 'adapter_model.bin')]) {
    const res = await runLora([base, '--adapter', a, '-o', path.join(dir, 'o.safetensors')]);
    assert.equal(res.code, 2);
    assert.match(res.err, /adapter_model\.bin: is a pickle file; ModelFuse never unpickles/);
  }
});

test('--map: pairs a module by hand, null leaves it out; a bad map file is an error naming it', async () => {
  const s = setup((r) => ({ [`${P}proj.lora_A.weight`]: r([2, 6]), [`${P}proj.lora_B.weight`]: r([3, 2]) }));
  const map = path.join(s.dir, 'map.json');
  fs.writeFileSync(map, JSON.stringify({ proj: 'head.weight' }));
  const ok = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out, '--map', map, '--json']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).merged[0].target, 'head.weight');
  const out2 = path.join(s.dir, 'o2.safetensors');
  const cases: [unknown, RegExp][] = [
    ['{ nope', /map\.json: not valid JSON/],
    [JSON.stringify(['proj']), /map\.json: must be a JSON object/],
    [JSON.stringify({ other: 'head.weight' }), /map\.json: 'other' is not a module or key of any adapter/],
    [JSON.stringify({ proj: 'nothing.weight' }), /map\.json: 'nothing\.weight' is not a tensor of/],
    [JSON.stringify({ proj: 3 }), /map\.json: 'proj': value must be a base tensor name or null/],
  ];
  for (const [text, re] of cases) {
    fs.writeFileSync(map, text as string);
    const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', out2, '--map', map]);
    assert.equal(res.code, 2);
    assert.match(res.err, re);
  }
  const missing = await runLora([s.basePath, '--adapter', s.adapter, '-o', out2, '--map', path.join(s.dir, 'absent.json')]);
  assert.match(missing.err, /absent\.json: file not found/);
  fs.writeFileSync(map, JSON.stringify({ proj: null }));
  const skipped = await runLora([s.basePath, '--adapter', s.adapter, '-o', out2, '--map', map]);
  assert.match(skipped.err, /unmatched: .*'proj': left out by --map/);
  assert.ok(!fs.existsSync(out2));
});

test('never overwrites without --force, never writes onto the input', async () => {
  const s = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([6, 2]) }));
  fs.writeFileSync(s.out, 'keep me');
  const res = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out]);
  assert.match(res.err, /out\.safetensors: file exists \(use --force to replace it\)/);
  assert.equal(fs.readFileSync(s.out, 'utf8'), 'keep me');
  const onto = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.basePath]);
  assert.match(onto.err, /refusing to overwrite the input model/);
  const forced = await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out, '--force']);
  assert.equal(forced.code, 0, forced.err);
});

test('usage errors: no adapter, no -o, a config that contradicts the tensors, a DoRA vector without use_dora', async () => {
  const s = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([6, 2]) }), { r: 4, lora_alpha: 2 });
  assert.match((await runLora([s.basePath, '-o', s.out])).err, /no adapter given/);
  assert.match((await runLora([s.basePath, '--adapter', s.adapter])).err, /-o OUT is required/);
  assert.match((await runLora([s.basePath, '--adapter', s.adapter, '-o', s.out])).err, /module 'fc': the config says rank 4 but lora_A has 2 rows/);
  const d = setup((r) => ({ [`${P}fc.lora_A.weight`]: r([2, 4]), [`${P}fc.lora_B.weight`]: r([6, 2]), [`${P}fc.lora_magnitude_vector`]: r([6]) }));
  assert.match((await runLora([d.basePath, '--adapter', d.adapter, '-o', d.out])).err, /has a lora_magnitude_vector but the config does not set use_dora/);
  assert.match((await runLora([d.basePath, '--adapter', `${d.adapter}=abc`, '-o', d.out])).err, /adapter not found/);
});
