import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureSamples } from '../../../extension/walkthrough/sampleFiles';

const bundled = path.resolve(__dirname, '..', '..', '..', 'media', 'sample');

test('the samples are copied into a versioned folder of the storage, byte for byte', (t) => {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-samples-'));
  t.after(() => fs.rmSync(storage, { recursive: true, force: true }));
  const s = ensureSamples(bundled, storage, '0.1.0');
  assert.equal(s.folder, path.join(storage, 'samples-0.1.0'));
  for (const [copy, original] of [
    [s.model, 'resnet_style.onnx'],
    [s.python, 'model.py'],
    [s.loraBase, 'tiny_llm_lora/base.onnx'],
    [path.join(s.loraAdapter, 'adapter_config.json'), 'tiny_llm_lora/adapter/adapter_config.json'],
  ]) {
    assert.deepEqual(fs.readFileSync(copy), fs.readFileSync(path.join(bundled, original)), original);
  }
});

test('files already in the storage are kept (a user’s edits, a fused output); missing ones come back', (t) => {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-samples-'));
  t.after(() => fs.rmSync(storage, { recursive: true, force: true }));
  const first = ensureSamples(bundled, storage, '0.1.0');
  fs.writeFileSync(first.python, '# edited\n');
  fs.writeFileSync(path.join(first.folder, 'resnet_style.fused.onnx'), 'output');
  fs.rmSync(first.loraBase);
  const again = ensureSamples(bundled, storage, '0.1.0');
  assert.equal(fs.readFileSync(again.python, 'utf8'), '# edited\n');
  assert.equal(fs.readFileSync(path.join(again.folder, 'resnet_style.fused.onnx'), 'utf8'), 'output');
  assert.deepEqual(fs.readFileSync(again.loraBase), fs.readFileSync(path.join(bundled, 'tiny_llm_lora/base.onnx')));
});

test('the bundled samples are never changed', (t) => {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-samples-'));
  t.after(() => fs.rmSync(storage, { recursive: true, force: true }));
  const before = fs.readdirSync(bundled, { recursive: true }).sort();
  ensureSamples(bundled, storage, '0.1.0');
  assert.deepEqual(fs.readdirSync(bundled, { recursive: true }).sort(), before);
});
