import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { buildModuleTree, type ModuleTreeNode } from '../../../extension/engine/graph/moduleTree';
import { analyzeModel, scanModel } from '../../../extension/engine/fusion/scan';
import { buildFuseList } from '../../../extension/engine/fusion/fuseList';
import { tensorDims } from '../../../extension/engine/onnx/tensors';
import { fixture } from '../helpers/fixtures';
import { buildModel } from './build';

function load(name: string, file = 'model.onnx') {
  const model = OnnxModel.load(fixture(name, file));
  const tree = buildModuleTree(model);
  model.close();
  return { model, tree };
}

function walk(n: ModuleTreeNode, visit: (n: ModuleTreeNode) => void): void {
  visit(n);
  n.children.forEach((c) => walk(c, visit));
}

test('resstyle: parameter names restore container prefixes the node names lost', () => {
  const { tree } = load('zoo_resstyle');
  assert.equal(tree.moduleOf('/conv1_1/Conv'), 'blocks.0.conv1');
  assert.equal(tree.moduleOf('/bn1_2/BatchNormalization'), 'blocks.1.bn1');
  assert.equal(tree.moduleOf('/conv2/Conv'), 'blocks.0.conv2');
  assert.equal(tree.moduleOf('/head/head.1/BatchNormalization'), 'head.1');
  assert.equal(tree.moduleOf('/conv1/Conv'), 'conv1');
});

test('resstyle: the shared relu is one module with five call sites', () => {
  const { tree } = load('zoo_resstyle');
  for (const n of ['/relu/Relu', '/relu_1/Relu', '/relu_4/Relu']) assert.equal(tree.moduleOf(n), 'relu');
  assert.deepEqual(tree.callSites('relu'), ['/relu/Relu', '/relu_1/Relu', '/relu_2/Relu', '/relu_3/Relu', '/relu_4/Relu']);
  assert.equal(tree.callSites('blocks.0.conv1').length, 1);
  assert.equal(tree.find('relu')?.callSites, 5);
  assert.deepEqual(['/relu/Relu', '/relu_1/Relu', '/relu_4/Relu', '/conv1_1/Conv', '/Add'].map(tree.callSiteOf), [1, 2, 5, 1, 0]);
});

test('resstyle: the tree nests containers, counts parameters, and is plain JSON', () => {
  const { model, tree } = load('zoo_resstyle');
  const blocks = tree.root.children.find((c) => c.path === 'blocks');
  assert.deepEqual(blocks?.children.map((c) => c.path), ['blocks.0', 'blocks.1']);
  assert.deepEqual(blocks?.children[0].children.map((c) => c.name), ['conv1', 'bn1', 'conv2', 'bn2']);
  const total = model.graph.initializer.reduce((a, t) => a + tensorDims(t).reduce((x, y) => x * y, 1), 0);
  assert.equal(tree.root.parameterCount, total);
  assert.equal(tree.find('blocks.0.conv1')?.parameterCount, 16 * 16 * 9);
  assert.equal(tree.find('blocks.0.bn1')?.parameterCount, 4 * 16);
  assert.deepEqual(tree.root.nodes, ['/Add', '/Add_1'], 'residual Adds have no module and keep their node name');
  assert.deepEqual(JSON.parse(JSON.stringify(tree)), tree.root);
  let count = 0;
  walk(tree.root, (n) => count += n.nodes.length);
  assert.equal(count, model.graph.node.length, 'every node appears exactly once');
});

test('dynamo: name_scopes give modules; a Conv with its BN folded by the exporter stands for both', () => {
  const { tree } = load('zoo_conv_bn_relu_dynamo');
  assert.deepEqual(tree.modulesOf('node_Conv_25'), ['conv1', 'bn1']);
  assert.equal(tree.moduleOf('node_Conv_25'), 'conv1');
  assert.deepEqual(tree.modulesOf('node_relu'), ['relu1']);
  assert.deepEqual(tree.modulesOf('node_conv2d_2'), ['conv3']);
  assert.equal(tree.classNameOf('bn2'), 'torch.nn.modules.batchnorm.BatchNorm2d');
  assert.equal(tree.find('relu3')?.className, 'torch.nn.modules.activation.ReLU');
});

test('transformer export: MatMul with a generated weight name joins its bias Add in the same scope', () => {
  const { tree } = load('lora_linear_qv', 'base.onnx');
  assert.equal(tree.moduleOf('/q_proj/MatMul'), 'layers.0.attn.q_proj');
  assert.equal(tree.moduleOf('/q_proj/Add'), 'layers.0.attn.q_proj');
  assert.equal(tree.moduleOf('/q_proj_1/MatMul'), 'layers.1.attn.q_proj');
  assert.equal(tree.callSites('layers.0.attn.q_proj').length, 1);
  assert.equal(tree.find('layers.0.attn.q_proj')?.parameterCount, 32 * 32 + 32, 'the onnx::MatMul_ weight counts for its module');
});

test('PEFT export: containers lost in the middle of the path are restored from parameter names', () => {
  const { tree } = load('lora_linear_qv', 'peft_unmerged.onnx');
  assert.equal(tree.moduleOf('/model/q_proj/base_layer/MatMul'), 'base_model.model.layers.0.attn.q_proj.base_layer');
  assert.equal(tree.moduleOf('/model/q_proj/base_layer/Add'), 'base_model.model.layers.0.attn.q_proj.base_layer');
  assert.equal(tree.moduleOf('/model/q_proj/base_layer_1/MatMul'), 'base_model.model.layers.1.attn.q_proj.base_layer');
  assert.equal(tree.callSites('base_model.model.layers.0.attn.q_proj.base_layer').length, 1);
});

test('a scope without parameters takes its path from its children when they agree', () => {
  const model = buildModel({
    inputs: [{ name: 'x', dims: [2, 4] }],
    outputs: ['y'],
    inits: [{ name: 'enc.layers.0.block.proj.weight', dims: [4, 4] }],
    nodes: [
      { op: 'Gemm', name: '/block/proj/Gemm', in: ['x', 'enc.layers.0.block.proj.weight'], out: ['p'], attrs: { transB: 1 } },
      { op: 'Relu', name: '/block/Relu', in: ['p'], out: ['y'] },
    ],
  });
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf('/block/proj/Gemm'), 'enc.layers.0.block.proj');
  assert.equal(tree.moduleOf('/block/Relu'), 'enc.layers.0.block', 'functional relu inside the block container');
});

test('functional ops and unnamed scopes: no module, node name kept', () => {
  const { tree } = load('lora_conv', 'base.onnx');
  assert.equal(tree.moduleOf('/Relu'), null);
  assert.deepEqual(tree.modulesOf('/Relu'), []);
  assert.ok(tree.root.nodes.includes('/Relu'));
  assert.equal(tree.moduleOf('/pool/GlobalAveragePool'), 'pool');
});

test('dynamo metadata: strict-mode paths, @N repeated calls, relative scopes', () => {
  const meta = (scopes: string, classes: string) => [
    { key: 'pkg.torch.onnx.name_scopes', value: scopes },
    { key: 'pkg.torch.onnx.class_hierarchy', value: classes },
  ];
  const model = buildModel({
    inputs: [{ name: 'x', dims: [2, 4] }],
    outputs: ['z'],
    nodes: [
      { op: 'Relu', name: 'n1', in: ['x'], out: ['a'] },
      { op: 'Relu', name: 'n2', in: ['a'], out: ['b'] },
      { op: 'Relu', name: 'n3', in: ['b'], out: ['z'] },
    ],
  });
  const [n1, n2, n3] = model.graph.node;
  n1.metadata_props = meta(`['', "L['self'].enc[0].act", 'relu']`, `['M', 'torch.nn.modules.container.Sequential', 'aten.relu']`);
  n2.metadata_props = meta(`['', 'enc.0.act@1', 'relu_1']`, `['M', 'torch.nn.modules.activation.ReLU', 'aten.relu']`);
  n3.metadata_props = meta(`['', 'dec', 'act', 'relu_2']`, `['M', 'X', 'torch.nn.modules.activation.ReLU', 'aten.relu']`);
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf('n1'), 'enc.0.act');
  assert.equal(tree.moduleOf('n2'), 'enc.0.act');
  assert.equal(tree.moduleOf('n3'), 'dec.act');
  assert.deepEqual(tree.callSites('enc.0.act'), ['n1', 'n2']);
  assert.equal(tree.callSiteOf('n2'), 2);
  assert.equal(tree.classNameOf('dec.act'), 'torch.nn.modules.activation.ReLU');
});

test('dynamo metadata without name_scopes: the namespace string is read instead', () => {
  const model = buildModel({ inputs: [{ name: 'x', dims: [2, 4] }], outputs: ['y'], nodes: [{ op: 'Relu', name: 'node_relu', in: ['x'], out: ['y'] }] });
  model.graph.node[0].metadata_props = [
    { key: 'namespace', value: ': __main__.Net/layer1: torch.nn.modules.container.Sequential/layer1.0: tv.Bottleneck/layer1.0.relu: torch.nn.modules.activation.ReLU/relu: aten.relu.default' },
  ];
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf('node_relu'), 'layer1.0.relu');
  assert.equal(tree.classNameOf('layer1.0.relu'), 'torch.nn.modules.activation.ReLU');
  assert.deepEqual(tree.root.children.map((c) => c.path), ['layer1']);
});

test('tied weights: a weight read by two scopes does not move a node into the other module', () => {
  const model = buildModel({
    inputs: [{ name: 'ids', dims: [2, 3] }],
    outputs: ['y'],
    inits: [{ name: 'embed.weight', dims: [10, 4] }],
    nodes: [
      { op: 'Gather', name: '/embed/Gather', in: ['embed.weight', 'ids'], out: ['e'] },
      { op: 'Transpose', name: '/head/Transpose', in: ['embed.weight'], out: ['wt'], attrs: { perm: [1, 0] } },
      { op: 'MatMul', name: '/head/MatMul', in: ['e', 'wt'], out: ['y'] },
    ],
  });
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf('/embed/Gather'), 'embed');
  assert.equal(tree.moduleOf('/head/Transpose'), 'head');
  assert.equal(tree.callSites('embed').length, 1);
});

test('absurdly deep scope names are not modules (no unbounded recursion in the tree or its JSON)', () => {
  const deep = '/' + Array.from({ length: 20000 }, (_, i) => `m${i % 7}`).join('/') + '/Relu';
  const model = buildModel({
    inputs: [{ name: 'x', dims: [2, 4] }],
    outputs: ['y'],
    inits: [{ name: Array.from({ length: 5000 }, () => 'p').join('.') + '.weight', dims: [4, 4] }],
    nodes: [
      { op: 'Relu', name: deep, in: ['x'], out: ['r'] },
      { op: 'MatMul', name: 'mm', in: ['r', Array.from({ length: 5000 }, () => 'p').join('.') + '.weight'], out: ['y'] },
    ],
  });
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf(deep), null);
  assert.equal(tree.moduleOf('mm'), null);
  assert.deepEqual(tree.root.nodes, [deep, 'mm']);
  assert.equal(tree.root.parameterCount, 16);
  assert.ok(JSON.stringify(tree).length > 0);
});

/** Every module path in the tree, parents before children. */
function allPaths(root: ModuleTreeNode): string[] {
  const out: string[] = [];
  walk(root, (n) => n.path && out.push(n.path));
  return out;
}

function weightElements(model: OnnxModel, node: string): number {
  const n = model.graph.node.find((x) => x.name === node)!;
  const w = model.graph.initializer.find((t) => t.name === n.input?.[1])!;
  return tensorDims(w).reduce((a, b) => a * b, 1);
}

test('PEFT export, transposed Linear adapters: every node of a LoRA branch sits under its own layer, lora_A/lora_B told apart by data flow', () => {
  const { model, tree } = load('lora_linear_qv', 'peft_unmerged.onnx');
  // Layer 1's scopes name neither the layer nor, for its children, the call (`/model/q_proj/base_layer_1`, `/model/q_proj/default_2`).
  const calls = [
    { layer: 'layers.0', ownScope: (p: string) => `/model/${p}`, base: 'base_layer', a: 'default', b: 'default_1' },
    { layer: 'layers.1', ownScope: (p: string) => `/model/${p}_1`, base: 'base_layer_1', a: 'default_2', b: 'default_3' },
  ];
  for (const c of calls) {
    for (const proj of ['q_proj', 'v_proj']) {
      const layer = `base_model.model.${c.layer}.attn.${proj}`;
      assert.equal(tree.moduleOf(`/model/${proj}/${c.base}/MatMul`), `${layer}.base_layer`);
      assert.equal(tree.moduleOf(`/model/${proj}/${c.a}/MatMul`), `${layer}.lora_A.default`);
      assert.equal(tree.moduleOf(`/model/${proj}/${c.b}/MatMul`), `${layer}.lora_B.default`);
      // PEFT's LoraLayer.forward: result = base_layer(x) + lora_B(lora_A(x)) * scaling, then cast back: the layer's own ops.
      for (const op of ['Constant', 'Mul', 'Add', 'Cast']) assert.equal(tree.moduleOf(`${c.ownScope(proj)}/${op}`), layer, `${proj} ${op}`);
      assert.deepEqual(tree.find(layer)?.children.map((m) => m.name), ['base_layer', 'lora_A', 'lora_B']);
      for (const part of ['', '.base_layer', '.lora_A.default', '.lora_B.default']) assert.equal(tree.callSites(layer + part).length, 1, layer + part);
      // The transposed adapter weights (onnx::MatMul_…) count for the adapter's module.
      assert.equal(tree.find(`${layer}.lora_A.default`)?.parameterCount, weightElements(model, `/model/${proj}/${c.a}/MatMul`));
    }
  }
  assert.deepEqual(tree.root.children.map((m) => m.path), ['base_model'], 'no module outside the PEFT wrapper (no `model.q_proj` merging both layers)');
  assert.deepEqual(allPaths(tree.root).filter((p) => /(^|\.)default$/.test(p) && !/\.lora_[AB]\.default$/.test(p)), []);
  assert.equal(tree.moduleOf('/model/MatMul'), 'base_model.model', 'functional attention ops stay in the model');
});

test('PEFT export, conv LoRA with a Linear head: the head adapter joins fc, the conv adapters keep their parameter paths', () => {
  const { tree } = load('lora_conv', 'peft_unmerged.onnx');
  for (const layer of ['conv1', 'conv2']) {
    assert.equal(tree.moduleOf(`/model/${layer}/default/Conv`), `base_model.model.${layer}.lora_A.default`);
    assert.equal(tree.moduleOf(`/model/${layer}/default_1/Conv`), `base_model.model.${layer}.lora_B.default`);
    assert.equal(tree.moduleOf(`/model/${layer}/Add`), `base_model.model.${layer}`);
  }
  assert.equal(tree.moduleOf('/model/fc/base_layer/Gemm'), 'base_model.model.fc.base_layer');
  assert.equal(tree.moduleOf('/model/fc/default/MatMul'), 'base_model.model.fc.lora_A.default');
  assert.equal(tree.moduleOf('/model/fc/default_1/MatMul'), 'base_model.model.fc.lora_B.default');
  for (const op of ['Mul', 'Add', 'Cast']) assert.equal(tree.moduleOf(`/model/fc/${op}`), 'base_model.model.fc');
  assert.deepEqual(tree.find('base_model.model.fc')?.children.map((m) => m.name), ['base_layer', 'lora_A', 'lora_B']);
  // The wrapper's own scope `/model` is `base_model.model`, two levels above any parameter.
  assert.equal(tree.moduleOf('/model/Relu'), 'base_model.model');
  assert.equal(tree.moduleOf('/model/pool/GlobalAveragePool'), 'base_model.model.pool');
  assert.deepEqual(tree.root.children.map((m) => m.path), ['base_model']);
  assert.deepEqual(tree.root.nodes, []);
});

test('PEFT exports: scan still finds every LoRA branch with the same nodes and layer, and each branch lies inside that layer in the tree', () => {
  const expected: Record<string, string[]> = {
    lora_linear_qv: ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj'],
    lora_conv: ['conv1', 'conv2', 'fc'],
  };
  for (const [name, layers] of Object.entries(expected)) {
    const model = OnnxModel.load(fixture(name, 'peft_unmerged.onnx'));
    const analysis = analyzeModel(model);
    const branches = analysis.scan.candidates.filter((c) => c.pattern === 'lora-branch');
    assert.deepEqual(branches.map((c) => c.modules), layers.map((l) => [l]), name);
    assert.equal(analysis.scan.candidates.length, branches.length, `${name}: nothing but the LoRA branches`);
    for (const c of branches) {
      assert.ok(c.folds && !c.blocked && c.warnings.length === 0, c.id);
      const layer = `base_model.model.${c.modules[0]}`;
      for (const n of c.nodes) {
        const m = analysis.tree.moduleOf(n) ?? '';
        assert.ok(m === layer || m.startsWith(`${layer}.`), `${n} is in ${m}, not in ${layer}`);
      }
    }
    assert.deepEqual(buildFuseList(analysis).groups, [], `${name}: no fuse_modules group (LoRA branches are ONNX-level folds)`);
    model.close();
  }
  const conv = OnnxModel.load(fixture('lora_conv', 'peft_unmerged.onnx'));
  assert.deepEqual(scanModel(conv).candidates.find((c) => c.modules[0] === 'fc')?.nodes, [
    '/model/fc/base_layer/Gemm', '/model/fc/default/MatMul', '/model/fc/default_1/MatMul', '/model/fc/Mul', '/model/fc/Add',
  ]);
  conv.close();
});

test('data flow, not the scope name, places a parameter-free call whose containers were lost; disagreeing evidence keeps the name', () => {
  const model = buildModel({
    inputs: [{ name: 'x', dims: [2, 4] }],
    outputs: ['y', 'z'],
    inits: [
      { name: 'enc.0.blk.lin.weight', dims: [4, 4] },
      { name: 'enc.1.blk.lin.weight', dims: [4, 4] },
    ],
    nodes: [
      // enc.0.blk and enc.1.blk, called directly: scopes `blk` and `blk_1`, their children both under `blk`.
      { op: 'Gemm', name: '/blk/lin/Gemm', in: ['x', 'enc.0.blk.lin.weight'], out: ['a'], attrs: { transB: 1 } },
      { op: 'Relu', name: '/blk/Relu', in: ['a'], out: ['ra'] },
      { op: 'Gemm', name: '/blk/lin_1/Gemm', in: ['ra', 'enc.1.blk.lin.weight'], out: ['b'], attrs: { transB: 1 } },
      { op: 'Relu', name: '/blk_1/Relu', in: ['b'], out: ['y'] },
      // A third call reading results of both blocks' children: two different proposals, so the node name decides.
      { op: 'Add', name: '/blk_2/Add', in: ['a', 'b'], out: ['z'] },
    ],
  });
  const tree = buildModuleTree(model);
  assert.equal(tree.moduleOf('/blk/Relu'), 'enc.0.blk');
  assert.equal(tree.moduleOf('/blk_1/Relu'), 'enc.1.blk');
  assert.equal(tree.callSites('enc.0.blk').length, 1);
  assert.equal(tree.moduleOf('/blk_2/Add'), 'blk');
});
