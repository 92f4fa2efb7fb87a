/**
 * The real-export zoo (test/fixtures/zoo, made by scripts/zoo/generate.py from
 * torchvision with PyTorch's own exporter): what ModelFuse says in PyTorch
 * terms must be what PyTorch says — torch.fx's module paths and call counts,
 * and for torchvision's quantizable models the exact groups their
 * hand-written fuse_model() fuses.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePythonSource } from '../../../extension/engine/python/analyzePython';
import { fileImportReader } from '../../../extension/engine/python/importFiles';
import { checkExport, notExported, torchvisionSource, TORCHVISION_MODELS, VARIANTS, zooEntries } from '../../zoo/zoo';

const entries = zooEntries();

test('the zoo is there: every quantizable torchvision model and the classification models', () => {
  const quant = entries.filter((e) => e.truth.family === 'quant').map((e) => e.truth.model);
  for (const m of ['googlenet', 'inception_v3', 'mobilenet_v2', 'mobilenet_v3_large', 'resnet18', 'resnet50', 'shufflenet_v2_x1_0']) assert.ok(quant.includes(m), m);
  // Every classification model of torchvision 0.14 (list_models): 80, of which swin_v2_* cannot be exported by torch 1.13.
  assert.equal(entries.filter((e) => e.truth.family === 'tv').length, 80, 'classification models');
});

for (const entry of entries) {
  for (const variant of VARIANTS) {
    if (!entry.truth.exports[variant]?.file) continue;
    test(`${entry.key} ${variant}: module paths, shared modules and fuse-list groups agree with PyTorch`, () => {
      const r = checkExport(entry, variant)!;
      assert.equal(r.error, undefined);
      assert.ok(r.pathsChecked > 0);
      assert.deepEqual(r.wrongPaths, [], 'every module path is a module of the PyTorch model');
      assert.deepEqual(r.falseShared, [], 'no shared-module warning without a second call');
      assert.deepEqual(r.missedShared, [], 'every module called twice is flagged');
      assert.deepEqual(r.wrongGroups, [], 'no group that is wrong in PyTorch');
      // With the BatchNorms kept: exactly the groups of the quantizable models' own fuse_model(), or torch.fx's
      // fusible chains of the rest (those without a module called twice).
      if (variant !== 'eval-default') assert.deepEqual(r.missingGroups, [], 'no group missing');
    });
  }
}

test('fuse_model() groups of modules the eval forward never runs (Inception AuxLogits) are not expected from the file', () => {
  const inception = entries.find((e) => e.key === 'quant_inception_v3');
  assert.ok(inception);
  const aux = inception.truth.fuseModelGroups!.filter((g) => notExported(inception.truth, g));
  assert.deepEqual(aux.map((g) => g[0].split('.')[0]), ['AuxLogits', 'AuxLogits']);
});

// The eval-default exports with torchvision's own source as the Python definition (Debian's python3-torchvision,
// read as text): every BatchNorm the file names is the right one, so no group is wrong; where the static
// analysis cannot follow the code (blocks built in loops, modules passed to a constructor) groups stay missing.
for (const entry of entries) {
  if (!entry.truth.exports['eval-default']?.file) continue;
  test(`${entry.key} eval-default with its Python definition: no wrong group, no wrong path`, async (t) => {
    const source = torchvisionSource(entry.truth);
    if (!source) {
      t.skip(fs.existsSync(TORCHVISION_MODELS) ? `no torchvision source file for ${entry.truth.model}` : `${TORCHVISION_MODELS} is missing (Debian's python3-torchvision; .ci/run installs it)`);
      return;
    }
    const analysis = await analyzePythonSource(fs.readFileSync(source, 'utf8'), undefined, fileImportReader(source, [path.dirname(TORCHVISION_MODELS)]));
    const r = checkExport(entry, 'eval-default', { python: { file: path.basename(source), classes: analysis.classes } })!;
    assert.equal(r.error, undefined);
    assert.deepEqual(r.wrongPaths, []);
    assert.deepEqual(r.wrongGroups, [], 'no group that is wrong in PyTorch');
    // Where the definition is plain (blocks written out in classes), the full groups: as with the BatchNorms kept.
    if (['quant_mobilenet_v2', 'quant_googlenet', 'tv_mobilenet_v2', 'tv_squeezenet1_0', 'tv_vgg11', 'tv_googlenet'].includes(entry.key)) assert.deepEqual(r.missingGroups, []);
  });
}
