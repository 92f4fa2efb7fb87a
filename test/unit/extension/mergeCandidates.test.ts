/**
 * The rules of the "Merge LoRA Adapter…" pickers (no VS Code): which files are
 * parsed, which bases are offered in which order, which adapters are pre-checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterRows, baseRows, closeness, isBeside, modelFilePaths } from '../../../extension/commands/mergeCandidates';
import type { UsableBase } from '../../../extension/engine/lora/baseProbe';

const onnx = (p: string): UsableBase => ({ path: p, kind: 'onnx', weights: 4, parameters: 1000, shards: [] });
const st = (p: string, shards: string[] = []): UsableBase => ({ path: p, kind: 'safetensors', weights: 28, parameters: 2_500_000, shards });

test('model files: .onnx, .safetensors and sharded indexes; temporaries of an atomic write and other JSON are not', () => {
  assert.deepEqual(
    modelFilePaths(['/w/a.onnx', '/w/b.safetensors', '/w/model.safetensors.index.json', '/w/config.json', '/w/.a.onnx.tmp-123-0badf00d', '/w/notes.txt', '/w/a.onnx', '/w/C.ONNX']),
    ['/w/C.ONNX', '/w/a.onnx', '/w/b.safetensors', '/w/model.safetensors.index.json'],
  );
});

test('beside: the base in the adapter folder’s parent, in the folder of an adapter file, or inside the adapter folder', () => {
  assert.ok(isBeside('/w/lora/base.safetensors', '/w/lora/adapters'));
  assert.ok(isBeside('/w/lora/base.onnx', '/w/lora/my_lora.safetensors'));
  assert.ok(isBeside('/w/lora/adapters/base.onnx', '/w/lora/adapters'));
  assert.ok(!isBeside('/w/other/base.onnx', '/w/lora/adapters'));
  assert.ok(!isBeside('/w/base.onnx', '/w/lora/adapters'));
  assert.equal(closeness('/w/lora/a', '/w/lora/b/c'), closeness('/w/lora', '/w/lora'));
});

test('bases: the one beside the adapter first (safetensors too), then the active and open models, then the rest nearest first', () => {
  const rows = baseRows({
    bases: [onnx('/w/zoo/resnet.onnx'), onnx('/w/active.onnx'), onnx('/w/lora/base.onnx'), st('/w/lora/base.safetensors'), onnx('/w/lora/sub/x.onnx'), onnx('/w/open.onnx')],
    adapters: ['/w/lora/adapters'],
    active: '/w/active.onnx',
    open: ['/w/open.onnx', '/w/active.onnx'],
  });
  assert.deepEqual(rows.map((r) => [r.path, r.relation]), [
    ['/w/lora/base.onnx', 'beside-adapter'],
    ['/w/lora/base.safetensors', 'beside-adapter'],
    ['/w/active.onnx', 'active'],
    ['/w/open.onnx', 'open'],
    ['/w/lora/sub/x.onnx', 'workspace'],
    ['/w/zoo/resnet.onnx', 'workspace'],
  ]);
  assert.match(rows[1].description, /^beside the adapter · safetensors · 2\.5 M parameters$/);
  assert.match(rows[2].description, /^active model · ONNX/);
});

test('bases: a safetensors base is offered when it is the only one beside the adapter; without adapters the active model leads', () => {
  const bases = [onnx('/w/models/other.onnx'), st('/w/lora/base.safetensors')];
  assert.equal(baseRows({ bases, adapters: ['/w/lora/adapters'], open: [] })[0].path, '/w/lora/base.safetensors');
  assert.equal(baseRows({ bases, adapters: [], active: '/w/models/other.onnx', open: [] })[0].path, '/w/models/other.onnx');
});

test('bases: a result ModelFuse wrote beside the adapter comes after the original, and says what it is', () => {
  const bases = [st('/w/peft/base.merged.safetensors'), st('/w/peft/base.safetensors'), onnx('/w/other.onnx')];
  const rows = baseRows({ bases, adapters: ['/w/peft/qv_adapter'], open: [], ownResults: ['/w/peft/base.merged.safetensors'] });
  assert.deepEqual(rows.map((r) => r.path), ['/w/peft/base.safetensors', '/w/peft/base.merged.safetensors', '/w/other.onnx']);
  assert.match(rows[1].description, /^beside the adapter · written by ModelFuse · safetensors/);
  assert.doesNotMatch(rows[0].description, /ModelFuse/);
  // Without the ledger the order is by name, as before.
  assert.equal(baseRows({ bases, adapters: ['/w/peft/qv_adapter'], open: [] })[0].path, '/w/peft/base.merged.safetensors');
});

test('bases: a sharded index is one row; its shards are not offered on their own; duplicates are dropped', () => {
  const shards = ['/w/m/model-00001-of-00002.safetensors', '/w/m/model-00002-of-00002.safetensors'];
  const rows = baseRows({ bases: [st(shards[0]), st('/w/m/model.safetensors.index.json', shards), st(shards[1]), st('/w/m/model.safetensors.index.json', shards)], adapters: [], open: [] });
  assert.deepEqual(rows.map((r) => r.path), ['/w/m/model.safetensors.index.json']);
  assert.match(rows[0].description, /safetensors, 2 shards/);
});

test('adapters: the one found is pre-checked, with or without a base', () => {
  assert.deepEqual(adapterRows(['/w/lora/adapters'], []).map((r) => [r.path, r.picked]), [['/w/lora/adapters', true]]);
  assert.deepEqual(adapterRows(['/w/far/adapter'], [], '/w/lora/base.onnx').map((r) => r.picked), [true]);
});

test('adapters: with a base, the ones beside it come first and only they are pre-checked; without a base several are not', () => {
  const rows = adapterRows(['/w/b/adapter', '/w/lora/adapters'], ['/w/lora/kohya.safetensors', '/w/b/adapter/adapter_model.safetensors'], '/w/lora/base.onnx');
  assert.deepEqual(rows.map((r) => [r.path, r.kind, r.beside, r.picked]), [
    ['/w/lora/adapters', 'folder', true, true],
    ['/w/lora/kohya.safetensors', 'file', true, true],
    ['/w/b/adapter', 'folder', false, false],
  ]);
  assert.ok(adapterRows(['/w/a/x', '/w/b/y'], []).every((r) => !r.picked));
});
