/**
 * One model, one shared weight (a Conv weight another Conv also reads), seen
 * by every front end: the CLI's scan table and --json, the side panel's tree
 * item and the overview's table row each say "shared weight" — never "shared
 * module", which would tell a PyTorch user to keep the group out of
 * fuse_modules for no reason.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { toCandidateView, type CandidateView } from '../../../extension/engine/fusion/candidateView';
import { sequenceItem } from '../../../extension/views/treeModel';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { convBnRelu, encodeModel } from './build';
import { tempDir } from '../helpers/fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');

function sharedWeightModel(): string {
  const spec = convBnRelu();
  spec.nodes.push({ op: 'Conv', name: '/other/Conv', in: ['x', 'conv.weight'], out: ['o'], attrs: { pads: [1, 1, 1, 1] } });
  spec.outputs.push('o');
  const file = path.join(tempDir(), 'shared_weight.onnx');
  fs.writeFileSync(file, encodeModel(spec));
  return file;
}

function viewOf(file: string): CandidateView {
  const model = OnnxModel.load(file);
  try {
    const views = scanModel(model).candidates.map(toCandidateView);
    const c = views.find((v) => v.pattern === 'conv-bn-relu');
    assert.ok(c, 'the conv-bn-relu group is found');
    return c;
  } finally {
    model.close();
  }
}

const SENTENCE = /weight 'conv\.weight' is also read by '\/other\/Conv'; folding gives this node its own copy/;

test('CLI: the scan table and --json word a shared weight as a shared weight', () => {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js is missing: run `npm run build` first');
  const file = sharedWeightModel();
  const table = spawnSync(process.execPath, [CLI, 'scan', file], { encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`1\\. warning: ${SENTENCE.source}`));
  assert.doesNotMatch(table.stdout, /shared module/);
  const json = spawnSync(process.execPath, [CLI, 'scan', file, '--json'], { encoding: 'utf8' });
  const warnings = JSON.parse(json.stdout).candidates.flatMap((c: { warnings: unknown[] }) => c.warnings);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].kind, 'shared-weight');
  assert.match(warnings[0].message, SENTENCE);
});

test('side panel: the tree item is labelled "shared weight" and its tooltip says the fold copies it', () => {
  const item = sequenceItem(viewOf(sharedWeightModel()));
  assert.equal(item.description, 'conv → bn → relu — folds exactly · shared weight');
  assert.match(item.tooltip, SENTENCE);
  assert.doesNotMatch(item.description + item.tooltip, /shared module/);
});

test('overview: the table row shows the shared-weight gist, the tooltip the sentence', () => {
  const [w] = viewOf(sharedWeightModel()).warnings;
  assert.equal(w.gist, "shared weight 'conv.weight' (also read by 1 other node): the fold gives this node its own copy");
  assert.match(w.text, SENTENCE);
  assert.equal(w.label, 'shared weight');
});
