/**
 * LoRA branches and the Modules tree of a real PEFT export: the tree shows
 * PEFT's full paths (`base_model.model.layers.0.attn.q_proj`, its
 * `base_layer`, `lora_A.default`), the branches name the layer as the user
 * knows it (`layers.0.attn.q_proj`). Tree marks, "Fuse selected modules" and
 * Reveal must all match the two forms, on the overview the worker builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CandidateView } from '../../../extension/engine/fusion/candidateView';
import type { ModuleTreeNode } from '../../../extension/engine/graph/moduleTree';
import { isModuleWithin, isSameModule, peftModuleName } from '../../../extension/engine/graph/peftModulePath';
import { resolveFuseSelection } from '../../../extension/commands/fuseSelection';
import { findModuleNode, moduleItem, topLevelModules } from '../../../extension/views/treeModel';
import { overviewOfFile } from '../../../extension/workerProcess/handlers/overviewOfFile';
import { fixture } from '../helpers/fixtures';

const quiet = { progress: () => undefined, throwIfCancelled: () => undefined };

function overviewOf(name: string): { candidates: CandidateView[]; root: ModuleTreeNode } {
  const o = overviewOfFile(fixture(name, 'peft_unmerged.onnx'), quiet);
  if (o.kind !== 'onnx' || !o.modules) throw new Error(`expected an ONNX overview with a module tree for ${name}`);
  return { candidates: o.candidates, root: o.modules };
}

const qv = overviewOf('lora_linear_qv');
const conv = overviewOf('lora_conv');

function treeNode(root: ModuleTreeNode, path: string): ModuleTreeNode {
  const walk = (m: ModuleTreeNode): ModuleTreeNode | undefined => (m.path === path ? m : m.children.map(walk).find((x) => x !== undefined));
  const hit = walk(root);
  assert.ok(hit, `the module tree has ${path}`);
  return hit;
}

function loraBranch(candidates: readonly CandidateView[], module: string): CandidateView {
  const c = candidates.find((x) => x.pattern === 'lora-branch' && x.modules.length === 1 && x.modules[0] === module);
  assert.ok(c, `a lora-branch candidate for ${module}`);
  return c;
}

const selectModules = (...paths: string[]) => paths.map((path) => ({ kind: 'module' as const, path }));

test('the fixture names the branches in the short form and the tree in the full PEFT form', () => {
  // The premise of everything below: if either side changes form, these tests must be revisited.
  assert.deepEqual(qv.candidates.filter((c) => c.pattern === 'lora-branch').map((c) => c.modules), [['layers.0.attn.q_proj'], ['layers.0.attn.v_proj'], ['layers.1.attn.q_proj'], ['layers.1.attn.v_proj']]);
  assert.deepEqual(treeNode(qv.root, 'base_model.model.layers.0.attn.q_proj').children.map((m) => m.name), ['base_layer', 'lora_A', 'lora_B']);
  assert.deepEqual(treeNode(conv.root, 'base_model.model.conv1').children.map((m) => m.name), ['base_layer', 'lora_A', 'lora_B']);
});

test('selecting an adapted layer, or its base_layer, fuses its LoRA branch', () => {
  const q0 = loraBranch(qv.candidates, 'layers.0.attn.q_proj');
  for (const path of ['base_model.model.layers.0.attn.q_proj', 'base_model.model.layers.0.attn.q_proj.base_layer']) {
    assert.deepEqual(resolveFuseSelection(selectModules(path), qv.candidates), { ids: [q0.id], refused: [] }, path);
  }
  // The adapter's own modules belong to the layer too (conv LoRA: lora_A.default is a k×k Conv, lora_B.default a 1×1 Conv).
  const c1 = loraBranch(conv.candidates, 'conv1');
  for (const path of ['base_model.model.conv1.lora_A.default', 'base_model.model.conv1.lora_B', 'base_model.model.conv1']) {
    assert.deepEqual(resolveFuseSelection(selectModules(path), conv.candidates), { ids: [c1.id], refused: [] }, path);
  }
});

test('a container selects the LoRA branches inside it, as containers do for other patterns', () => {
  const inLayer0 = ['layers.0.attn.q_proj', 'layers.0.attn.v_proj'].map((m) => loraBranch(qv.candidates, m).id);
  assert.deepEqual(resolveFuseSelection(selectModules('base_model.model.layers.0'), qv.candidates), { ids: inLayer0, refused: [] });
  assert.deepEqual(resolveFuseSelection(selectModules('base_model.model.layers.0.attn'), qv.candidates), { ids: inLayer0, refused: [] });
  const all = qv.candidates.filter((c) => c.pattern === 'lora-branch').map((c) => c.id);
  for (const path of ['base_model', 'base_model.model', 'base_model.model.layers']) {
    assert.deepEqual(resolveFuseSelection(selectModules(path), qv.candidates).ids, all, path);
  }
  // `layers.1` must not take `layers.10…`-style neighbours by string prefix: only its own two.
  assert.deepEqual(
    resolveFuseSelection(selectModules('base_model.model.layers.1'), qv.candidates).ids,
    ['layers.1.attn.q_proj', 'layers.1.attn.v_proj'].map((m) => loraBranch(qv.candidates, m).id),
  );
});

test('a PEFT module in no sequence is still refused, named as the tree names it', () => {
  const r = resolveFuseSelection(selectModules('base_model.model.layers.0.attn.k_proj', 'base_model.model.layers.0.attn.q_proj'), qv.candidates);
  assert.deepEqual(r.ids, [loraBranch(qv.candidates, 'layers.0.attn.q_proj').id]);
  assert.deepEqual(r.refused, [{ item: 'base_model.model.layers.0.attn.k_proj', reason: 'not part of any fusible sequence' }]);
});

test('the Modules tree marks adapted layers, their parts and their containers as part of a sequence', () => {
  for (const path of ['base_model.model.layers.0.attn.q_proj', 'base_model.model.layers.0.attn.q_proj.base_layer']) {
    const item = moduleItem(treeNode(qv.root, path), qv.candidates);
    assert.equal(item.contextValue, 'module.fusible', path);
    assert.match(item.tooltip, /In 1 fusible sequence: `lora-branch`/, path);
  }
  const container = moduleItem(treeNode(qv.root, 'base_model.model.layers.0'), qv.candidates);
  assert.equal(container.contextValue, 'module.fusible');
  assert.doesNotMatch(container.tooltip, /fusible sequence/, 'a container is in no sequence itself');
  const unadapted = moduleItem(treeNode(qv.root, 'base_model.model.layers.0.attn.k_proj'), qv.candidates);
  assert.equal(unadapted.contextValue, 'module');
  assert.doesNotMatch(unadapted.tooltip, /fusible sequence/);
  assert.equal(moduleItem(treeNode(conv.root, 'base_model.model.conv2.lora_B.default'), conv.candidates).contextValue, 'module.fusible');
});

test('Reveal finds the adapted layer of each branch (not its base_layer) and records the way there', () => {
  const parents = new Map<ModuleTreeNode, ModuleTreeNode>();
  const childrenOf = (m: ModuleTreeNode) => {
    for (const k of m.children) parents.set(k, m);
    return m.children;
  };
  for (const c of qv.candidates.filter((x) => x.pattern === 'lora-branch')) {
    const found = findModuleNode(topLevelModules(qv.root), childrenOf, c.modules[0]!);
    assert.equal(found?.path, `base_model.model.${c.modules[0]}`);
    const way: string[] = [];
    for (let m = parents.get(found!); m; m = parents.get(m)) way.unshift(m.path);
    assert.deepEqual(way, ['base_model', 'base_model.model', 'base_model.model.layers', `base_model.model.${c.modules[0]!.split('.').slice(0, 2).join('.')}`, `base_model.model.${c.modules[0]!.split('.').slice(0, 3).join('.')}`]);
  }
  assert.equal(findModuleNode(topLevelModules(conv.root), (m) => m.children, 'conv2')?.path, 'base_model.model.conv2');
  assert.equal(findModuleNode(topLevelModules(qv.root), (m) => m.children, 'layers.0.attn.o_proj'), undefined);
});

test('peftModulePath: the two forms match; names without PEFT parts are compared as they are', () => {
  assert.equal(peftModuleName('base_model.model.layers.0.attn.q_proj.base_layer'), 'layers.0.attn.q_proj');
  assert.equal(peftModuleName('base_model.model.conv1.lora_A.default'), 'conv1');
  assert.equal(peftModuleName('base_model.model.conv1.lora_B'), 'conv1');
  assert.equal(peftModuleName('base_model.model.embed.lora_embedding_A.default'), 'embed');
  assert.equal(peftModuleName('base_model.model'), '');
  assert.equal(peftModuleName('blocks.0.conv1'), 'blocks.0.conv1');
  assert.equal(peftModuleName('base_model.modeling.fc'), 'base_model.modeling.fc', 'only the whole `base_model.model` segment pair is PEFT\'s');
  assert.ok(isSameModule('base_model.model.fc', 'fc'));
  assert.ok(isSameModule('base_model.model.fc.base_layer', 'base_model.model.fc'));
  assert.ok(!isSameModule('base_model.model.fc', 'fc2'));
  assert.ok(isModuleWithin('blocks', 'blocks.0.conv1'));
  assert.ok(!isModuleWithin('blocks', 'blocks2.conv1'));
  assert.ok(!isModuleWithin('blocks.0', 'blocks'));
  assert.ok(isModuleWithin('', 'anything'));
  assert.ok(isModuleWithin('base_model.model.layers', 'layers.1.attn.v_proj'));
  assert.ok(!isModuleWithin('model', 'layers.1.attn.v_proj'));
});
