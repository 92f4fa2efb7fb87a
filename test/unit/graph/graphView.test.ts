/**
 * The Graph tab's view-model without a browser: grouping by PyTorch module
 * (real PyTorch 2.11 exports), weights as node parameters (initializers and
 * Constant nodes), sequences with their status, LoRA branches, collapsing and
 * the hierarchical layout.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { toCandidateView } from '../../../extension/engine/fusion/candidateView';
import { buildGraphView, type GraphView } from '../../../extension/engine/graph/graphView';
import { defaultExpanded, MODULE_PREFIX, representativeOf, visibleGraph } from '../../../extension/engine/graph/graphViewVisible';
import { FLAT_LAYOUT_ABOVE, layoutGraph, type GraphLayout } from '../../../extension/engine/graph/graphLayout';
import { buildModel, convBnRelu, type Spec } from '../scan/build';
import { fixture } from '../helpers/fixtures';

function viewOf(model: OnnxModel): GraphView {
  const a = analyzeModel(model);
  return buildGraphView(model, a.index, a.tree, a.scan.candidates.map(toCandidateView));
}

function viewOfFile(file: string): GraphView {
  const model = OnnxModel.load(file, { weights: 'on-demand' });
  try {
    return viewOf(model);
  } finally {
    model.close();
  }
}

test('a ResNet-style export: nodes grouped by module, collapsed by default, weights are parameters of their node', () => {
  const view = viewOfFile(fixture('zoo_resstyle', 'model.onnx'));
  assert.equal(view.nodes.length, 20, 'every node drawn; initializers are no boxes');
  const conv = view.nodes.find((n) => n.id === '/conv1_1/Conv')!;
  assert.equal(conv.module, 'blocks.0.conv1', 'the lost container prefix is recovered by the module tree');
  assert.deepEqual(conv.inputs, ['/relu/Relu_output_0']);
  assert.deepEqual(conv.params.map((p) => [p.name, p.slot, p.dims.join('x'), p.source]), [['blocks.0.conv1.weight', 1, '16x16x3x3', 'initializer']]);
  const bn = view.nodes.find((n) => n.id === '/bn1_1/BatchNormalization')!;
  assert.deepEqual(bn.params.map((p) => p.slot), [1, 2, 3, 4]);

  const blocks = view.modules.find((m) => m.path === 'blocks')!;
  assert.deepEqual(blocks.children, ['blocks.0', 'blocks.1']);
  // 2 × (conv1, bn1, conv2, bn2); the shared `relu` and the residual Adds belong to the model itself.
  assert.equal(blocks.total, 8);

  assert.deepEqual(defaultExpanded(view), ['']);
  const collapsed = visibleGraph(view, defaultExpanded(view));
  const ids = collapsed.items.map((i) => i.id);
  assert.ok(ids.includes(`${MODULE_PREFIX}blocks`), 'blocks is one box');
  assert.ok(!ids.includes('/conv1_1/Conv'), 'nodes inside a collapsed module are not drawn');
  assert.ok(ids.includes('/conv1/Conv'), 'a module with a single node is drawn as that node');
  // The shared `relu` (five calls) is no box tying five places together: each call is drawn where it runs.
  assert.ok(!ids.includes(`${MODULE_PREFIX}relu`));
  assert.equal(view.nodes.find((n) => n.id === '/relu_1/Relu')!.module, 'relu');
  assert.ok(view.nodes.filter((n) => n.module === 'relu').every((n) => n.box === '' || n.box.startsWith('blocks')));
  assert.equal(collapsed.items.find((i) => i.id === `${MODULE_PREFIX}blocks`)!.count, 8);
  // Edges between drawn items only, merged, no self loops.
  for (const e of collapsed.edges) {
    assert.ok(ids.includes(e.from) && ids.includes(e.to), `${e.from} → ${e.to}`);
    assert.notEqual(e.from, e.to);
  }
  assert.equal(representativeOf(collapsed, view, '/conv1_1/Conv'), `${MODULE_PREFIX}blocks`);

  const open = visibleGraph(view, ['blocks']);
  const group = open.items.find((i) => i.id === `${MODULE_PREFIX}blocks`)!;
  assert.equal(group.kind, 'group', 'an expanded module is a frame around its contents');
  assert.equal(open.items.find((i) => i.id === `${MODULE_PREFIX}blocks.0`)!.parent, `${MODULE_PREFIX}blocks`);
  assert.equal(representativeOf(open, view, '/conv1_1/Conv'), `${MODULE_PREFIX}blocks.0`);
  // Expanding a child of a collapsed module changes nothing: its parent is still one box.
  assert.deepEqual(visibleGraph(view, ['blocks.0']).items.map((i) => i.id).sort(), ids.slice().sort());
});

test('fusible sequences keep their status and reason, and mark the boxes that hold them', () => {
  const spec = convBnRelu(4);
  // A second reader of the BN output blocks conv-bn-relu (the intermediate is read elsewhere).
  const blocked: Spec = { ...spec, outputs: ['y', 'bn_out'] };
  const view = viewOf(buildModel(blocked));
  const statuses = new Map(view.sequences.map((s) => [s.pattern, s]));
  assert.ok(view.sequences.length > 0);
  for (const s of view.sequences) {
    if (s.status === 'blocked') assert.ok(s.reason && s.reason.length > 0, `${s.id} has its reason`);
    if (s.status === 'safe') assert.equal(s.reason, null);
  }
  const anyBlocked = [...statuses.values()].find((s) => s.status === 'blocked');
  assert.ok(anyBlocked, `a blocked sequence: ${JSON.stringify(view.sequences.map((s) => [s.id, s.status]))}`);
  const g = visibleGraph(view, defaultExpanded(view));
  for (const id of anyBlocked.nodes) {
    const item = g.items.find((i) => i.id === representativeOf(g, view, id))!;
    assert.ok(item.sequences.includes(anyBlocked.id));
    assert.equal(item.status, 'blocked', 'blocked wins over safe on a shared box');
  }
});

test('Constant-node weights are parameters of their reader and the Constant is not drawn', () => {
  const spec: Spec = {
    inputs: [{ name: 'x', dims: [1, 4] }],
    outputs: ['y'],
    inits: [{ name: 'fc.weight', dims: [4, 4] }],
    nodes: [
      { op: 'Constant', name: '/fc/Constant', in: [], out: ['shift'], attrs: {} },
      { op: 'MatMul', name: '/fc/MatMul', in: ['x', 'fc.weight'], out: ['mm'] },
      { op: 'Add', name: '/fc/Add', in: ['mm', 'shift'], out: ['y'] },
    ],
  };
  const model = buildModel(spec);
  // A Constant with a real tensor value (the builder's attrs cannot express tensors).
  model.graph.node![0].attribute = [onnx.AttributeProto.create({ name: 'value', type: AttributeType.TENSOR, t: onnx.TensorProto.create({ data_type: DataType.FLOAT, dims: [4], float_data: [1, 2, 3, 4] }) })];
  const view = viewOf(model);
  assert.deepEqual(view.nodes.map((n) => n.id), ['/fc/MatMul', '/fc/Add']);
  assert.equal(view.hiddenNodes, 1);
  const add = view.nodes[1];
  assert.deepEqual(add.params.map((p) => [p.name, p.source, p.dims.join('x')]), [['shift', 'constant', '4']]);
  assert.deepEqual(view.edges.map((e) => `${e.from}->${e.to}`), ['input:x->/fc/MatMul', '/fc/MatMul->/fc/Add', '/fc/Add->output:y']);
});

test('an unmerged PEFT export: LoRA branches carry module, rank and scale, and PEFT wrappers collapse to their layer', () => {
  const view = viewOfFile(fixture('lora_linear_qv', 'peft_unmerged.onnx'));
  const lora = view.sequences.filter((s) => s.pattern === 'lora-branch');
  assert.equal(lora.length, 4);
  for (const s of lora) {
    assert.ok(s.lora && s.lora.module && s.lora.rank && s.lora.scale, JSON.stringify(s.lora));
    assert.match(s.label, /^layers\.\d\.attn\.[qv]_proj · rank \d+ · scale [\d.]+$/);
  }
  const expanded = defaultExpanded(view);
  assert.ok(expanded.length > 1, `PEFT's single wrapper containers open by default: ${expanded}`);
  const g = visibleGraph(view, expanded);
  assert.ok(g.items.length < view.nodes.length, 'collapsed by module');
  // Every branch's nodes are inside one drawn box until the user expands it.
  for (const s of lora) assert.equal(new Set(s.nodes.map((n) => representativeOf(g, view, n))).size, 1, s.label);
});

function assertNoOverlaps(layout: GraphLayout, graph: ReturnType<typeof visibleGraph>): void {
  const parent = new Map(graph.items.map((i) => [i.id, i.parent]));
  const byParent = new Map<string | null, typeof layout.items>();
  for (const it of layout.items) (byParent.get(parent.get(it.id)!) ?? byParent.set(parent.get(it.id)!, []).get(parent.get(it.id)!)!).push(it);
  for (const [p, items] of byParent) {
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const a = items[i];
        const b = items[j];
        const overlap = Math.abs(a.x - b.x) * 2 < a.width + b.width - 0.5 && Math.abs(a.y - b.y) * 2 < a.height + b.height - 0.5;
        assert.ok(!overlap, `${a.id} overlaps ${b.id} in ${p}`);
      }
    }
    // Children sit inside their group's frame.
    const frame = p === null ? undefined : layout.items.find((i) => i.id === p)!;
    if (frame) for (const c of items) assert.ok(Math.abs(c.x - frame.x) * 2 <= frame.width + 0.5 && Math.abs(c.y - frame.y) * 2 <= frame.height + 0.5, `${c.id} inside ${p}`);
  }
}

test('layout: every drawn item is placed, siblings do not overlap, children are inside their group, edges have end points', () => {
  const view = viewOfFile(fixture('zoo_resstyle', 'model.onnx'));
  for (const expanded of [[''], ['blocks'], view.modules.map((m) => m.path)]) {
    const g = visibleGraph(view, expanded);
    const layout = layoutGraph(g);
    assert.deepEqual(layout.items.map((i) => i.id).sort(), g.items.map((i) => i.id).sort());
    assertNoOverlaps(layout, g);
    assert.equal(layout.edges.length, g.edges.length);
    for (const e of layout.edges) assert.ok(e.points.length >= 2 && e.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
    // Top to bottom: the input is above the output.
    const input = layout.items.find((i) => i.id === 'input:x')!;
    const output = layout.items.find((i) => i.id === 'output:y')!;
    assert.ok(input.y < output.y);
  }
});

test('layout: a level too large for dagre (no module information) gets the linear layering, in dataflow order', () => {
  const n = FLAT_LAYOUT_ABOVE + 10;
  const nodes = Array.from({ length: n }, (_, i) => ({ op: 'Relu', name: `r${i}`, in: [i === 0 ? 'x' : `v${i - 1}`], out: [i === n - 1 ? 'y' : `v${i}`] }));
  const view = viewOf(buildModel({ inputs: [{ name: 'x', dims: [1] }], outputs: ['y'], nodes }));
  const g = visibleGraph(view, defaultExpanded(view));
  assert.equal(g.items.length, n + 2);
  const layout = layoutGraph(g);
  const y = new Map(layout.items.map((i) => [i.id, i.y]));
  for (let i = 1; i < n; i++) assert.ok(y.get(`r${i}`)! > y.get(`r${i - 1}`)!, 'a chain goes down');
  assertNoOverlaps(layout, g);
});
