/**
 * BatchNorms folded away by `torch.onnx.export(model.eval(), x, f)` with its
 * defaults (test/fixtures/exporter-folded, real torch 1.13 exports with their
 * state dicts, by scripts/zoo/checkpoint_cases.py): never offered as
 * [conv, relu]; named from the checkpoint, which gives torch.fx's groups.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { buildFuseList, formatFuseList } from '../../../extension/engine/fusion/fuseList';
import { openCheckpoint } from '../../../extension/engine/fusion/checkpoint';
import type { StateDictReader } from '../../../extension/engine/graph/exporterFolds';
import { fixture, tempDir } from '../helpers/fixtures';
import { analyzePythonSource } from '../../../extension/engine/python/analyzePython';
import { fileImportReader } from '../../../extension/engine/python/importFiles';
import type { PythonDefinition } from '../../../extension/engine/graph/pythonFolds';
import { toCandidateView } from '../../../extension/engine/fusion/candidateView';

const CASES = ['mobilenet_v2_w01', 'mnasnet_a01', 'stem_block'];
const CLI = path.resolve(__dirname, '../../../dist/cli.js');

interface Truth {
  fusibleChains: string[][];
  hookCalls: Record<string, number>;
}
const truth = (c: string): Truth => JSON.parse(fs.readFileSync(fixture('exporter-folded', c, 'truth.json'), 'utf8'));
const safeChains = (t: Truth): string[][] => t.fusibleChains.filter((g) => g.every((m) => (t.hookCalls[m] ?? 1) <= 1));

function groups(c: string, checkpoint?: StateDictReader): { offered: string[][]; text: string } {
  const model = OnnxModel.load(fixture('exporter-folded', c, 'model.onnx'));
  try {
    const list = buildFuseList(analyzeModel(model, { checkpoint: () => checkpoint }));
    return { offered: list.groups.map((g) => g.modules), text: formatFuseList(list, 'model.onnx') };
  } finally {
    model.close();
  }
}

for (const c of CASES) {
  test(`${c}: with its state dict, fuse-list offers exactly torch.fx's groups (BatchNorm named by the numbers)`, () => {
    const cp = openCheckpoint(fixture('exporter-folded', c, 'model.safetensors'));
    try {
      assert.deepEqual(groups(c, cp).offered, safeChains(truth(c)));
    } finally {
      cp.close();
    }
  });

  test(`${c}: without it, no group that would move a ReLU before a BatchNorm; the reason says what is missing`, () => {
    const { offered, text } = groups(c);
    const expected = new Set(safeChains(truth(c)).map((g) => g.join(',')));
    for (const g of offered) assert.ok(expected.has(g.join(',')), `offered ${g.join(', ')}`);
    assert.match(text, /the exporter folded a BatchNorm into '[^']+' \(its weight is 'onnx::Conv_\d+'/);
    assert.match(text, /state dict \(\.safetensors\) beside the model/);
    assert.match(text, /TrainingMode\.PRESERVE/);
  });
}

test('the BatchNorm of a Conv with its own bias and eps=1e-3 is found (stem_block: conv → bn(eps=1e-3) → act)', () => {
  const cp = openCheckpoint(fixture('exporter-folded', 'stem_block', 'model.safetensors'));
  const model = OnnxModel.load(fixture('exporter-folded', 'stem_block', 'model.onnx'));
  try {
    const a = analyzeModel(model, { checkpoint: () => cp });
    const stem = a.exporterFolds.find((f) => a.tree.moduleOf(f.node) === 'conv');
    assert.equal(stem?.batchNorm, 'bn');
    assert.match(stem!.resolution!, /'conv\.weight' scaled by γ\/√\(σ²\+ε\) of 'bn'/);
    assert.deepEqual(a.tree.modulesOf(stem!.node), ['conv', 'bn']);
  } finally {
    model.close();
    cp.close();
  }
});

test('a checkpoint of another model names nothing, and says why', () => {
  const other = openCheckpoint(fixture('exporter-folded', 'mnasnet_a01', 'model.safetensors'));
  const model = OnnxModel.load(fixture('exporter-folded', 'stem_block', 'model.onnx'));
  try {
    const a = analyzeModel(model, { checkpoint: () => other });
    assert.ok(a.exporterFolds.length > 0);
    for (const f of a.exporterFolds) {
      assert.equal(f.batchNorm, null);
      assert.match(f.resolution!, /has no '.*\.weight'|no BatchNorm with \d+ channels|not '.*' scaled per output channel|is \[/);
    }
    assert.deepEqual(buildFuseList(a).groups, []);
  } finally {
    model.close();
    other.close();
  }
});

test('two BatchNorms with equal statistics cannot be told apart: said, not guessed', () => {
  const real = openCheckpoint(fixture('exporter-folded', 'stem_block', 'model.safetensors'));
  // A twin of 'bn' under another name: both fit the exported numbers equally well.
  const twin: StateDictReader = {
    path: 'twin.safetensors',
    names: () => [...real.names(), 'bn_copy.weight', 'bn_copy.bias', 'bn_copy.running_mean', 'bn_copy.running_var'],
    shape: (n) => real.shape(n.replace('bn_copy.', 'bn.')),
    values: (n) => real.values(n.replace('bn_copy.', 'bn.')),
  };
  const model = OnnxModel.load(fixture('exporter-folded', 'stem_block', 'model.onnx'));
  try {
    const a = analyzeModel(model, { checkpoint: () => twin });
    const stem = a.exporterFolds.find((f) => a.tree.moduleOf(f.node) === 'conv')!;
    assert.equal(stem.batchNorm, null);
    assert.match(stem.resolution!, /2 BatchNorms in twin\.safetensors give the exported weight equally well \('bn', 'bn_copy'\)/);
  } finally {
    model.close();
    real.close();
  }
});

test('CLI: a state dict beside the model is used by fuse-list; --weights names one; an unreadable --weights is exit 2', () => {
  assert.ok(fs.existsSync(CLI), 'run npm run build first');
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const beside = run('fuse-list', fixture('exporter-folded', 'stem_block', 'model.onnx'));
  assert.equal(beside.status, 0);
  assert.match(beside.stdout, /\['conv', 'bn', 'act'\],  # Conv2d \+ BatchNorm2d \+ ReLU/);
  const dir = tempDir();
  fs.copyFileSync(fixture('exporter-folded', 'stem_block', 'model.onnx'), path.join(dir, 'exported.onnx'));
  const alone = run('fuse-list', path.join(dir, 'exported.onnx'));
  assert.equal(alone.status, 0);
  assert.match(alone.stdout, /#   \['conv', \?, 'act'\]: the exporter folded a BatchNorm into 'conv'/);
  const given = run('fuse-list', path.join(dir, 'exported.onnx'), '--weights', fixture('exporter-folded', 'stem_block', 'model.safetensors'));
  assert.match(given.stdout, /\['head\.0', 'head\.1', 'head\.2'\]/);
  const bad = run('scan', path.join(dir, 'exported.onnx'), '--weights', path.join(dir, 'missing.safetensors'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /missing\.safetensors: file not found/);
  const pickle = run('scan', path.join(dir, 'exported.onnx'), '--weights', path.join(dir, 'model.pt'));
  assert.equal(pickle.status, 2);
  assert.match(pickle.stderr, /pickled \.bin\/\.pt files are not read/);
  assert.deepEqual(fs.readdirSync(dir), ['exported.onnx'], 'nothing written');
});

// ---------------------------------------------------------------- the Python definition instead of the state dict

const TORCHVISION_MODELS = '/usr/lib/python3/dist-packages/torchvision/models';
/** The fixture's own definition (stem_block), or torchvision's source as Debian's python3-torchvision installs it (read as text). */
const DEFINITIONS: Record<string, string> = {
  stem_block: fixture('exporter-folded', 'stem_block', 'model.py'),
  mobilenet_v2_w01: path.join(TORCHVISION_MODELS, 'mobilenetv2.py'),
  mnasnet_a01: path.join(TORCHVISION_MODELS, 'mnasnet.py'),
};

async function definition(file: string, text = fs.readFileSync(file, 'utf8')): Promise<PythonDefinition> {
  const analysis = await analyzePythonSource(text, undefined, fileImportReader(file, []));
  return { file: path.basename(file), classes: analysis.classes };
}

function groupsWith(c: string, python: PythonDefinition): { offered: string[][]; analysis: ReturnType<typeof analyzeModel> } {
  const model = OnnxModel.load(fixture('exporter-folded', c, 'model.onnx'));
  try {
    const analysis = analyzeModel(model, { python });
    return { offered: buildFuseList(analysis).groups.map((g) => g.modules), analysis };
  } finally {
    model.close();
  }
}

for (const c of CASES) {
  test(`${c}: with its Python definition and no state dict, fuse-list offers exactly torch.fx's groups`, async (t) => {
    if (!fs.existsSync(DEFINITIONS[c])) {
      t.skip(`${DEFINITIONS[c]} is missing (Debian's python3-torchvision; .ci/run installs it)`);
      return;
    }
    const { offered, analysis } = groupsWith(c, await definition(DEFINITIONS[c]));
    assert.deepEqual(offered, safeChains(truth(c)));
    const named = analysis.exporterFolds.filter((f) => f.batchNorm);
    assert.ok(named.length > 0);
    for (const f of named) assert.match(f.resolution!, /^class \w+ of \w+\.py calls self\.[\w.-]+ then self\.[\w.-]+ \(line \d+\): '[^']+' is its Conv, so the folded BatchNorm is '[^']+'$/);
  });
}

test('a Python class of another model names no BatchNorm: the export shows children it does not create', async () => {
  const other = await definition('other.py', [
    'import torch.nn as nn',
    'class Other(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        self.conv = nn.Conv2d(3, 8, 3)',
    '        self.norm = nn.BatchNorm2d(8)',
    '    def forward(self, x):',
    '        return self.norm(self.conv(x))',
  ].join('\n'));
  const { offered, analysis } = groupsWith('stem_block', other);
  assert.equal(analysis.exporterFolds.filter((f) => f.batchNorm).length, 0);
  assert.deepEqual(offered, []);
  const stem = analysis.exporterFolds.find((f) => analysis.tree.moduleOf(f.node) === 'conv')!;
  assert.match(stem.resolution!, /no class of other\.py runs a Conv → BatchNorm that ends at 'conv'/);
});

test('CLI: fuse-list --python names the folded BatchNorms of a model alone in its folder', () => {
  const dir = tempDir();
  fs.copyFileSync(fixture('exporter-folded', 'stem_block', 'model.onnx'), path.join(dir, 'exported.onnx'));
  const r = spawnSync(process.execPath, [CLI, 'fuse-list', path.join(dir, 'exported.onnx'), '--python', fixture('exporter-folded', 'stem_block', 'model.py')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\['conv', 'bn', 'act'\],  # Conv2d \+ BatchNorm2d \+ ReLU/);
  assert.match(r.stdout, /\['head\.0', 'head\.1', 'head\.2'\]/);
  const missing = spawnSync(process.execPath, [CLI, 'fuse-list', path.join(dir, 'exported.onnx'), '--python', path.join(dir, 'nope.py')], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nope\.py: no such file/);
});

test('the views name an unnamed folded BatchNorm as such, never by the activation node after it', () => {
  const model = OnnxModel.load(fixture('exporter-folded', 'stem_block', 'model.onnx'));
  try {
    const views = analyzeModel(model).scan.candidates.map(toCandidateView);
    const labels = views.filter((v) => v.details?.unnamedBatchNorm).map((v) => v.label);
    assert.ok(labels.includes('conv → (BatchNorm folded by the exporter) → act'), labels.join('\n'));
    assert.ok(labels.includes('block.conv2 → (BatchNorm folded by the exporter)'), labels.join('\n'));
    assert.ok(labels.every((l) => !/Relu/.test(l)), `an activation node stands in for a BatchNorm:\n${labels.join('\n')}`);
  } finally {
    model.close();
  }
});
