/**
 * The mapping editor's engine half, on the real PEFT fixture: a base whose
 * tensors were renamed (blocks.N.attention.query …) leaves every adapter
 * module unmatched; the table offers the tensors of fitting shape with the
 * right one most similar by name; the choices written as a mapping file are
 * read by the CLI's `lora --map` and the merge reproduces PEFT's
 * merge_and_unload() tensors. Also: the file's text, the ONNX table, the
 * base probe that the picker uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, tempDir } from '../helpers/fixtures';
import { buildPlan } from '../../../extension/engine/lora/plan';
import { mappingTable, nameScore } from '../../../extension/engine/lora/mappingTable';
import { defaultMappingPath, mappingFileText, writeMappingFile } from '../../../extension/engine/lora/mappingFile';
import { probeBase } from '../../../extension/engine/lora/baseProbe';
import { readAll, relErr, runLora, writeSafetensors, type T } from './loraTestUtils';
import { neutralText } from '../../../extension/engine/remedy';
import { cliText } from '../../../extension/cli/remedyText';
import { vscodeText } from '../../../extension/host/remedyText';

const CASE = 'lora_linear_qv';
const ADAPTER = { path: fixture(CASE, 'adapters'), weight: 1 };

/** Another naming scheme for the same model, as a different code base would save it. */
function renamed(name: string): string {
  return name.replace(/^layers\./, 'blocks.').replace('.attn.', '.attention.').replace('q_proj', 'query').replace('k_proj', 'key').replace('v_proj', 'value').replace('o_proj', 'out');
}

function writeRenamed(from: string, to: string): void {
  const tensors: Record<string, T> = {};
  for (const [name, t] of Object.entries(readAll(from))) tensors[renamed(name)] = t;
  writeSafetensors(to, tensors);
}

test('renamed safetensors base: every module unmatched; the table offers the fitting tensors, the right one first; the saved map merges like PEFT', async () => {
  const dir = tempDir();
  const base = path.join(dir, 'base.safetensors');
  writeRenamed(fixture(CASE, 'base.safetensors'), base);

  const plan = buildPlan(base, [ADAPTER]);
  let rows;
  try {
    assert.equal(plan.pairs.length, 0);
    assert.equal(plan.unmatched.length, 4);
    rows = mappingTable(plan);
  } finally {
    plan.close();
  }
  assert.deepEqual(rows.map((r) => r.module), ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj']);
  for (const r of rows) {
    assert.equal(r.status, 'unmatched');
    assert.deepEqual(r.deltaShape, [32, 32]);
    assert.match(neutralText(r.evidence[0]), /no tensor/);
    // Only [32, 32] tensors: q/k/v/o of both layers — never embed [64, 32] or a bias.
    assert.equal(r.candidates.length, 8, r.candidates.map((c) => c.target).join(', '));
    assert.ok(r.candidates.every((c) => c.shape.join('x') === '32x32'));
    assert.equal(r.candidates[0].target, renamed(`${r.module}.weight`), `${r.module}: best candidate ${r.candidates[0].target}`);
    assert.ok(r.candidates[0].score > r.candidates[1].score, `${r.module}: the best candidate is not unique`);
  }

  // The user takes the suggestions (what the editor's selects send), the file is saved, the CLI merges with it.
  const choices = Object.fromEntries(rows.map((r) => [r.module, r.candidates[0].target]));
  const mapFile = defaultMappingPath(base);
  assert.equal(mapFile, path.join(dir, 'base.lora-map.json'));
  await writeMappingFile(mapFile, choices);
  assert.deepEqual(JSON.parse(fs.readFileSync(mapFile, 'utf8')), choices);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['base.lora-map.json', 'base.safetensors'], 'no temporary file is left');

  const withMap = buildPlan(base, [ADAPTER], { mapPath: mapFile });
  try {
    assert.deepEqual(withMap.unmatched, []);
    assert.deepEqual(withMap.errors, []);
    assert.deepEqual(withMap.pairs.map((p) => p.target).sort(), Object.values(choices).sort());
    assert.ok(withMap.pairs.every((p) => p.evidence.map(cliText).includes('--map base.lora-map.json')));
    assert.ok(withMap.pairs.every((p) => p.evidence.map(vscodeText).includes('paired by hand in the key mapping (base.lora-map.json)')));
    const table = mappingTable(withMap);
    assert.ok(table.every((r) => r.status === 'matched' && r.target === choices[r.module]), 'the table shows the saved mapping');
  } finally {
    withMap.close();
  }

  const out = path.join(dir, 'merged.safetensors');
  const r = await runLora([base, '--adapter', ADAPTER.path, '--map', mapFile, '-o', out, '--json']);
  assert.equal(r.code, 0, r.err);
  const got = readAll(out);
  const want = readAll(fixture(CASE, 'merged.safetensors'));
  for (const [name, w] of Object.entries(want)) {
    const err = relErr(got[renamed(name)].values, w.values, 1e-3);
    assert.ok(err <= 1e-5, `${renamed(name)}: max rel err ${err} against PEFT's ${name}`);
  }
});

test('a module left out (null) stays unmatched on purpose; the rest merge', () => {
  const dir = tempDir();
  const base = path.join(dir, 'base.safetensors');
  writeRenamed(fixture(CASE, 'base.safetensors'), base);
  const mapFile = path.join(dir, 'map.json');
  fs.writeFileSync(mapFile, mappingFileText({ 'layers.0.attn.q_proj': 'blocks.0.attention.query.weight', 'layers.0.attn.v_proj': null, 'layers.1.attn.q_proj': null, 'layers.1.attn.v_proj': null }));
  const plan = buildPlan(base, [ADAPTER], { mapPath: mapFile });
  try {
    assert.equal(plan.pairs.length, 1);
    const rows = mappingTable(plan);
    assert.deepEqual(rows.map((r) => [r.module, r.status]), [
      ['layers.0.attn.v_proj', 'left-out'],
      ['layers.1.attn.q_proj', 'left-out'],
      ['layers.1.attn.v_proj', 'left-out'],
      ['layers.0.attn.q_proj', 'matched'],
    ]);
  } finally {
    plan.close();
  }
});

test('ONNX base (TorchScript export): matched rows carry their evidence; candidates are the initializers of fitting shape with the matched one among them', () => {
  const plan = buildPlan(fixture(CASE, 'base.onnx'), [ADAPTER]);
  try {
    const rows = mappingTable(plan);
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.status, 'matched', r.module);
      assert.ok(r.target);
      assert.ok(r.evidence.length > 0);
      const mine = r.candidates.find((c) => c.target === r.target);
      assert.ok(mine, `${r.module}: its target ${r.target} is not among the candidates`);
      assert.match(mine!.note, /reads it/);
      assert.equal(r.candidates[0].target, r.target, `${r.module}: the matched tensor is not the most similar name`);
    }
  } finally {
    plan.close();
  }
});

test('mapping file text: natural module order, null kept, bad entries refused', () => {
  const text = mappingFileText({ 'layers.10.q': 'a', 'layers.2.q': null, 'layers.2.k': 'b' });
  assert.equal(text, '{\n  "layers.2.k": "b",\n  "layers.2.q": null,\n  "layers.10.q": "a"\n}\n');
  assert.throws(() => mappingFileText({ x: '' }), /tensor name or null/);
  assert.throws(() => mappingFileText({ '': 'a' }), /module name/);
  assert.equal(defaultMappingPath('/m/model.safetensors.index.json'), path.join('/m', 'model.lora-map.json'));
  assert.equal(defaultMappingPath('/m/base.onnx'), path.join('/m', 'base.lora-map.json'));
});

test('writing a mapping into a missing folder fails naming the file, and writes nothing', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'nope', 'map.json');
  await assert.rejects(writeMappingFile(file, { a: 'b' }), (e: Error) => e.message.startsWith(file) && /does not exist/.test(e.message));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('name similarity: the layer number decides between layers; abbreviations count by prefix', () => {
  assert.ok(nameScore('layers.0.attn.q_proj', 'blocks.0.attention.query.weight') > nameScore('layers.0.attn.q_proj', 'blocks.1.attention.query.weight'));
  assert.ok(nameScore('layers.0.attn.q_proj', 'blocks.0.attention.query.weight') > nameScore('layers.0.attn.q_proj', 'blocks.0.attention.key.weight'));
  assert.equal(nameScore('a.b', 'x.y'), 0);
});

test('base probe: ONNX and safetensors bases usable; an adapter file is an adapter; a truncated or foreign file is skipped with the reason', () => {
  const dir = tempDir();
  const onnx = probeBase(fixture(CASE, 'base.onnx'));
  assert.ok(onnx.usable && onnx.base.kind === 'onnx' && onnx.base.weights > 0 && onnx.base.parameters > 0);
  const st = probeBase(fixture(CASE, 'base.safetensors'));
  assert.ok(st.usable && st.base.kind === 'safetensors' && st.base.weights === 28);
  const adapter = probeBase(fixture(CASE, 'adapters', 'adapter_model.safetensors'));
  assert.ok(!adapter.usable && adapter.adapter);

  const truncated = path.join(dir, 'half.onnx');
  const bytes = fs.readFileSync(fixture(CASE, 'base.onnx'));
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  const t = probeBase(truncated);
  assert.ok(!t.usable && !t.adapter);
  assert.ok(!t.reason.startsWith(truncated), 'the reason does not repeat the path');
  assert.match(t.reason, /truncated|corrupt|invalid|not a valid/i);

  const html = path.join(dir, 'download.safetensors');
  fs.writeFileSync(html, '<!DOCTYPE html><html><body>404 Not Found</body></html>');
  const h = probeBase(html);
  assert.ok(!h.usable && !h.adapter && h.reason.length > 0, JSON.stringify(h));

  // A sharded base: the index is the base, its shards are listed so that the picker can hide them.
  const all = readAll(fixture(CASE, 'base.safetensors'));
  const names = Object.keys(all);
  const half = Math.ceil(names.length / 2);
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const part = names.slice(i * half, (i + 1) * half);
    writeSafetensors(path.join(dir, s), Object.fromEntries(part.map((n) => [n, all[n]])));
    for (const n of part) weightMap[n] = s;
  });
  const index = path.join(dir, 'model.safetensors.index.json');
  fs.writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const sharded = probeBase(index);
  assert.ok(sharded.usable && sharded.base.weights === names.length);
  assert.deepEqual(sharded.usable && sharded.base.shards, shards.map((s) => path.join(dir, s)));
});
