/**
 * What ModelFuse may replace or delete: only results it wrote and nobody
 * changed since (ResultLedger over real files), and where `onRepeat` writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { ResultLedger, type LedgerStorage, type ResultEntry } from '../../../extension/host/resultLedger';
import { chooseOutputPath } from '../../../extension/host/outputNaming';
import { readSettings } from '../../../extension/host/settings';
import { diffTitle } from '../../../extension/views/diffRequest';

function ledgerIn(): { ledger: ResultLedger; stored: () => ResultEntry[] } {
  let value: unknown;
  const stat = (p: string) => {
    const s = fs.statSync(p, { throwIfNoEntry: false });
    return s ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  };
  const storage: LedgerStorage = { read: () => value, write: (e) => void (value = JSON.parse(JSON.stringify(e))) };
  return { ledger: new ResultLedger(storage, stat), stored: () => value as ResultEntry[] };
}

test('ledger: a recorded result (model + external data) is ours until someone changes, replaces or removes a file', async () => {
  const dir = tempDir();
  const model = path.join(dir, 'm.fused.onnx');
  const data = `${model}.data`;
  fs.writeFileSync(model, 'model');
  fs.writeFileSync(data, 'weights');
  const { ledger, stored } = ledgerIn();
  await ledger.record({ path: model, kind: 'fuse', source: path.join(dir, 'm.onnx'), files: [data] });
  assert.equal(stored().length, 1);
  assert.equal(stored()[0].files.length, 2);
  assert.ok(ledger.isOurs(model) && ledger.isOurs(data));
  assert.ok(!ledger.isOurs(path.join(dir, 'm.onnx')), 'the source was not written by ModelFuse');
  assert.deepEqual((await ledger.current()).ours.map((e) => e.path), [model]);

  fs.writeFileSync(data, 'other weights, longer');
  assert.ok(!ledger.isOurs(model), 'a changed external-data file makes the result not ours');
  const { ours, changed } = await ledger.current();
  assert.deepEqual([ours.length, changed.length], [0, 1]);

  // Recording again (a new write) makes it ours again; removing the files forgets it.
  await ledger.record({ path: model, kind: 'fuse', source: path.join(dir, 'm.onnx'), files: [data] });
  assert.ok(ledger.isOurs(model));
  fs.rmSync(model);
  fs.rmSync(data);
  assert.deepEqual(await ledger.current(), { ours: [], changed: [] });
  assert.deepEqual(stored(), [], 'missing results are forgotten');
});

test('ledger: a file re-created with the same content by someone else is not ours (its time differs)', async () => {
  const dir = tempDir();
  const model = path.join(dir, 'a.merged.onnx');
  fs.writeFileSync(model, 'x');
  const { ledger } = ledgerIn();
  await ledger.record({ path: model, kind: 'merge', source: path.join(dir, 'a.onnx'), files: [] });
  const t = fs.statSync(model).mtime;
  fs.rmSync(model);
  fs.writeFileSync(model, 'x');
  fs.utimesSync(model, t, new Date(t.getTime() + 5000));
  assert.ok(!ledger.isOurs(model));
});

test('ledger: garbage in the workspace state is ignored, never trusted', () => {
  const l = new ResultLedger({ read: () => [{ path: '/etc/passwd' }, 'x', null, { path: '/a', kind: 'fuse', source: '/b', files: [{ path: '/a', size: 'big', mtimeMs: 1 }] }], write: () => undefined }, () => ({ size: 1, mtimeMs: 1 }));
  assert.deepEqual(l.entries(), []);
  assert.ok(!l.isOurs('/etc/passwd'));
});

test('onRepeat: newFile numbers; replace overwrites only our own previous result (and never one with a foreign .data)', () => {
  const files = new Set(['/m/model.onnx', '/m/model.fused.onnx']);
  const exists = (p: string) => files.has(p);
  const ours = new Set(['/m/model.fused.onnx']);
  const isOurs = (p: string) => ours.has(p);
  assert.deepEqual(chooseOutputPath('/m/model.onnx', '${name}.fused${ext}', 'newFile', exists, isOurs), { path: '/m/model.fused-2.onnx', replaces: false });
  assert.deepEqual(chooseOutputPath('/m/model.onnx', '${name}.fused${ext}', 'replace', exists, isOurs), { path: '/m/model.fused.onnx', replaces: true });
  assert.deepEqual(chooseOutputPath('/m/model.onnx', '${name}.fused${ext}', 'replace', exists, () => false), { path: '/m/model.fused-2.onnx', replaces: false }, 'a file ModelFuse did not write is never replaced');
  files.add('/m/model.fused.onnx.data');
  assert.deepEqual(chooseOutputPath('/m/model.onnx', '${name}.fused${ext}', 'replace', exists, isOurs), { path: '/m/model.fused-2.onnx', replaces: false }, 'a foreign external-data file next to it');
  files.delete('/m/model.fused.onnx');
  files.delete('/m/model.fused.onnx.data');
  assert.deepEqual(chooseOutputPath('/m/model.onnx', '${name}.fused${ext}', 'replace', exists, isOurs), { path: '/m/model.fused.onnx', replaces: false }, 'a free name is simply used');
});

test('settings: output.onRepeat is newFile or replace; anything else is reported and newFile used', () => {
  assert.equal(readSettings((k) => (k === 'output.onRepeat' ? 'replace' : undefined)).settings.onRepeat, 'replace');
  const bad = readSettings((k) => (k === 'output.onRepeat' ? 'overwrite' : undefined));
  assert.equal(bad.settings.onRepeat, 'newFile');
  assert.deepEqual(bad.problems, [`modelfuse.output.onRepeat: "overwrite" is not 'newFile' or 'replace'; using 'newFile'`]);
});

test('diff titles tell two model.onnx apart', () => {
  assert.equal(diffTitle({ before: '/w/resnet/model.onnx', after: '/w/resnet/model.fused.onnx', kind: 'fuse' }), 'Fused: resnet/model.onnx → model.fused.onnx');
  assert.equal(diffTitle({ before: '/w/bert/model.onnx', after: '/w/bert/model.fused.onnx', kind: 'fuse' }), 'Fused: bert/model.onnx → model.fused.onnx');
  assert.equal(diffTitle({ before: '/w/a/model.onnx', after: '/w/b/model.onnx', kind: 'compare' }), 'Diff: a/model.onnx → b/model.onnx');
  assert.equal(diffTitle({ before: '/w/x/export/model.onnx', after: '/w/y/export/model.onnx', kind: 'compare' }), 'Diff: x/export/model.onnx → y/export/model.onnx');
  assert.equal(diffTitle({ before: '/w/lora/base.onnx', after: '/w/out/base.merged.onnx', kind: 'merge' }), 'Merged: lora/base.onnx → out/base.merged.onnx');
});
