import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { toCandidateView, type CandidateView } from '../../../extension/engine/fusion/candidateView';
import type { ModuleTreeNode } from '../../../extension/engine/graph/moduleTree';
import { allSafeIds, resolveFuseSelection } from '../../../extension/commands/fuseSelection';
import { moduleItem, sequenceItem, topLevelModules } from '../../../extension/views/treeModel';
import { fixture } from '../helpers/fixtures';
import { sharedWeightWarning } from '../../../extension/engine/fusion/warnings';

/** The real scan of a fixture model, as the worker sends it to the host. */
function scanOf(name: string): { candidates: CandidateView[]; root: ModuleTreeNode } {
  const model = OnnxModel.load(fixture(name, 'model.onnx'));
  try {
    const a = analyzeModel(model);
    return { candidates: a.scan.candidates.map(toCandidateView), root: a.tree.toJSON() };
  } finally {
    model.close();
  }
}

const resstyle = scanOf('zoo_resstyle');
const linear = scanOf('zoo_linear');
const byModules = (cs: CandidateView[], ...mods: string[]) => {
  const c = cs.find((x) => x.modules.join(',') === mods.join(','));
  assert.ok(c, `a candidate over ${mods.join(', ')}`);
  return c;
};

test('two selected sequences are fused together, in scan order', () => {
  const a = byModules(resstyle.candidates, 'blocks.1.conv2', 'blocks.1.bn2');
  const b = byModules(resstyle.candidates, 'conv1', 'bn1', 'relu');
  const r = resolveFuseSelection([{ kind: 'sequence', id: a.id }, { kind: 'sequence', id: b.id }], resstyle.candidates);
  assert.deepEqual(r.ids, [b.id, a.id]);
  assert.deepEqual(r.refused, []);
});

test('a grouping-only sequence in the selection is named with its reason, the rest still fused', () => {
  const groupOnly = byModules(linear.candidates, 'fc2', 'relu2');
  const folding = byModules(linear.candidates, 'fc1', 'bn1');
  const r = resolveFuseSelection([{ kind: 'sequence', id: groupOnly.id }, { kind: 'sequence', id: folding.id }], linear.candidates);
  assert.deepEqual(r.ids, [folding.id]);
  assert.equal(r.refused.length, 1);
  assert.match(r.refused[0].item, /^linear-relu \(fc2 → relu2\)$/);
  assert.match(r.refused[0].reason, /nothing to fold/);
});

test('a blocked sequence is refused with the blocked reason', () => {
  const blocked = toCandidateView({ ...byModules(linear.candidates, 'fc1', 'bn1'), id: 'linear-bn:x', blocked: "the Gemm output is also read by '/fc2/Gemm'" });
  const r = resolveFuseSelection([{ kind: 'sequence', id: blocked.id }], [blocked]);
  assert.deepEqual(r.ids, []);
  assert.deepEqual(r.refused, [{ item: 'linear-bn (fc1 → bn1)', reason: "the Gemm output is also read by '/fc2/Gemm'" }]);
});

test('selected modules pick the sequences they cover completely', () => {
  const r = resolveFuseSelection(['conv1', 'bn1', 'relu'].map((path) => ({ kind: 'module' as const, path })), resstyle.candidates);
  assert.deepEqual(r.ids, [byModules(resstyle.candidates, 'conv1', 'bn1', 'relu').id]);
  assert.deepEqual(r.refused, [], 'relu is used by the picked sequence, so it is not reported');
});

test('a container selects the sequences inside it; sequences reaching outside it are not taken', () => {
  const r = resolveFuseSelection([{ kind: 'module', path: 'blocks' }], resstyle.candidates);
  assert.deepEqual(r.ids, [byModules(resstyle.candidates, 'blocks.0.conv2', 'blocks.0.bn2').id, byModules(resstyle.candidates, 'blocks.1.conv2', 'blocks.1.bn2').id]);
  assert.deepEqual(r.refused, []);
});

test('a module alone is refused with what to select instead; a module in no sequence says so', () => {
  const r = resolveFuseSelection([{ kind: 'module', path: 'blocks.0.conv1' }, { kind: 'module', path: 'nonexistent' }], resstyle.candidates);
  assert.deepEqual(r.ids, []);
  assert.deepEqual(r.refused[0], { item: 'blocks.0.conv1', reason: 'part of conv-bn-relu (blocks.0.conv1 → blocks.0.bn1 → relu): select all of its modules, or the sequence itself' });
  assert.deepEqual(r.refused[1], { item: 'nonexistent', reason: 'not part of any fusible sequence' });
});

test('selected modules covering only a grouping-only sequence get its reason', () => {
  const r = resolveFuseSelection([{ kind: 'module', path: 'fc2' }, { kind: 'module', path: 'relu2' }], linear.candidates);
  assert.deepEqual(r.ids, []);
  assert.equal(r.refused.length, 2);
  for (const x of r.refused) assert.match(x.reason, /grouping for PyTorch/);
});

test('a sequence id that is gone (the model changed) is reported, not ignored', () => {
  const r = resolveFuseSelection([{ kind: 'sequence', id: 'conv-bn:/old/Conv' }], resstyle.candidates);
  assert.deepEqual(r.ids, []);
  assert.match(r.refused[0].reason, /no longer in the model/);
});

test('fuse all safe takes exactly the folding, unblocked sequences', () => {
  assert.equal(allSafeIds(resstyle.candidates).length, 6);
  assert.deepEqual(allSafeIds(linear.candidates), [byModules(linear.candidates, 'fc1', 'bn1').id, byModules(linear.candidates, 'fc3', 'bn3').id]);
});

test('tree items: the shared relu module is flagged, leaves show operator and parameters', () => {
  const top = topLevelModules(resstyle.root);
  const relu = top.find((m) => m.path === 'relu')!;
  const item = moduleItem(relu, resstyle.candidates);
  assert.equal(item.icon, 'warning');
  assert.match(item.description, /^Relu · called 5×$/);
  assert.match(item.tooltip, /Called from 5 places/);
  const conv1 = moduleItem(top.find((m) => m.path === 'conv1')!, resstyle.candidates);
  assert.equal(conv1.description, 'Conv · 432 params');
  assert.equal(conv1.contextValue, 'module.fusible');
  assert.equal(conv1.expandable, false);
  const blocks = moduleItem(top.find((m) => m.path === 'blocks')!, resstyle.candidates);
  assert.equal(blocks.expandable, true);
  assert.equal(blocks.icon, 'symbol-module');
  assert.ok(top.some((m) => m.name === '(top level)'), 'nodes of no module (the residual Adds) get their own entry');
});

test('tree items: sequences show pattern, modules, status; warnings and blocked reasons are visible', () => {
  const shared = sequenceItem(byModules(resstyle.candidates, 'conv1', 'bn1', 'relu'));
  assert.equal(shared.label, 'conv-bn-relu');
  assert.equal(shared.description, 'conv1 → bn1 → relu — folds exactly · shared module');
  assert.equal(shared.icon, 'warning');
  assert.match(shared.tooltip, /shared module 'relu'/);
  assert.equal(shared.contextValue, 'sequence.fusible');
  const blocked = sequenceItem(toCandidateView({ ...byModules(linear.candidates, 'fc1', 'bn1'), blocked: 'BN output is a graph output' }));
  assert.equal(blocked.contextValue, 'sequence.blocked');
  assert.equal(blocked.icon, 'circle-slash');
  assert.match(blocked.description, /blocked: BN output is a graph output$/);
  assert.match(blocked.tooltip, /Blocked:\*\* BN output is a graph output/);
  assert.equal(sequenceItem(byModules(linear.candidates, 'fc2', 'relu2')).contextValue, 'sequence.grouping');
  // A weight read by another node is a shared weight (the fold copies it), not a shared module.
  const tied = sequenceItem(toCandidateView({ ...byModules(linear.candidates, 'fc1', 'bn1'), warnings: [sharedWeightWarning('fc1.weight', ['/other/MatMul'])] }));
  assert.equal(tied.description, 'fc1 → bn1 — folds exactly · shared weight');
  assert.match(tied.tooltip, /\$\(warning\) weight 'fc1\.weight' is also read by '\/other\/MatMul'; folding gives this node its own copy/);
  assert.doesNotMatch(tied.tooltip + tied.description, /shared module/);
});
