/**
 * Conv LoRA (a k×k conv A then a 1×1 conv B, PEFT's Conv2d/Conv1d adapters,
 * grouped too) and Embedding LoRA (Gather of Aᵀ by the same ids, then a
 * MatMul by Bᵀ): the fold writes ΔW in the base layout and ONNX Runtime
 * agrees before and after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelDiff } from '../helpers/fixtures';
import { DataType, GraphSpec, initializer, loraCandidates, opCount, randn, run, scaledDiff, scanAndFuse } from './helpers';

interface ConvCase {
  spatial: number[];
  inC: number;
  outC: number;
  r: number;
  group?: number;
  groupA?: number;
  groupB?: number;
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  bias?: boolean;
  s: number;
}

function buildConv(c: ConvCase) {
  const g = new GraphSpec();
  const k = c.spatial.map(() => 3);
  const group = c.group ?? 1;
  const ga = c.groupA ?? group;
  const gb = c.groupB ?? group;
  const attrs = {
    kernel_shape: k,
    strides: c.strides ?? k.map(() => 1),
    pads: c.pads ?? [...k.map(() => 1), ...k.map(() => 1)],
    dilations: c.dilations ?? k.map(() => 1),
  };
  const W = g.weight('conv.base_layer.weight', [c.outC, c.inC / group, ...k]);
  if (c.bias !== false) g.weight('conv.base_layer.bias', [c.outC]);
  const A = g.weight('conv.lora_A.default.weight', [c.r, c.inC / ga, ...k]);
  const B = g.weight('conv.lora_B.default.weight', [c.outC, c.r / gb, ...k.map(() => 1)]);
  const base = g.op('Conv', 'conv/base_layer/Conv', ['x', 'conv.base_layer.weight', ...(c.bias !== false ? ['conv.base_layer.bias'] : [])], { ...attrs, group });
  let h = g.op('Conv', 'conv/lora_A/Conv', ['x', 'conv.lora_A.default.weight'], { ...attrs, group: ga });
  h = g.op('Conv', 'conv/lora_B/Conv', [h, 'conv.lora_B.default.weight'], { kernel_shape: k.map(() => 1), group: gb });
  h = g.op('Mul', 'conv/Mul', [h, g.constant('conv/scale', [], [c.s])]);
  const y = g.op('Add', 'conv/Add', [base, h]);
  const xDims = [2, c.inC, ...c.spatial];
  // Expected: W + s · Σ_r B[o,r] A[r,i,k…] restricted to the groups (dense reference over global channels).
  const kernel = k.reduce((a, b) => a * b, 1);
  const inPerG = c.inC / group;
  const expected = Float64Array.from(W);
  for (let o = 0; o < c.outC; o++) {
    const G = Math.floor(o / (c.outC / group));
    for (let rr = 0; rr < c.r; rr++) {
      const bGroup = Math.floor(o / (c.outC / gb));
      if (Math.floor(rr / (c.r / gb)) !== bGroup) continue; // B reaches only its group's ranks
      const bv = B[o * (c.r / gb) + (rr - bGroup * (c.r / gb))];
      const aGroup = Math.floor(rr / (c.r / ga));
      for (let il = 0; il < c.inC / ga; il++) {
        const global = aGroup * (c.inC / ga) + il;
        const local = global - G * inPerG;
        assert.ok(local >= 0 && local < inPerG, 'test case mixes groups');
        for (let kk = 0; kk < kernel; kk++) expected[(o * inPerG + local) * kernel + kk] += c.s * bv * A[(rr * (c.inC / ga) + il) * kernel + kk];
      }
    }
  }
  return { bytes: g.model([{ name: 'x', dims: xDims }], [{ name: y }]), xDims, expected, y };
}

async function checkConv(c: ConvCase): Promise<void> {
  const built = buildConv(c);
  const feeds = { x: { dims: built.xDims, values: randn(built.xDims.reduce((a, b) => a * b, 1), 5) } };
  const before = await run(built.bytes, feeds);
  const { candidates, model, bytes } = scanAndFuse(built.bytes);
  const [cand] = loraCandidates(candidates);
  assert.ok(cand, 'found');
  assert.equal(cand.blocked, null);
  assert.deepEqual(
    { rank: cand.details?.rank, scale: cand.details?.scale, base: cand.details?.base, module: cand.details?.module },
    { rank: c.r, scale: c.s, base: 'Conv', module: 'conv' },
  );
  assert.equal(opCount(model, 'Conv'), 1);
  assert.equal(opCount(model, 'Add', 'Mul'), 0);
  const folded = initializer(model, 'conv.base_layer.weight');
  assert.ok(maxRelDiff(folded, built.expected, 1e-30) <= 2 ** -24, `weight off by ${maxRelDiff(folded, built.expected, 1e-30)}`);
  const after = await run(bytes, feeds);
  assert.ok(scaledDiff(after[built.y], before[built.y]) < 1e-6, `output moved by ${scaledDiff(after[built.y], before[built.y])}`);
}

test('Conv2d LoRA (3×3 A, 1×1 B) folds into the base conv; the graph output keeps its name', () =>
  checkConv({ spatial: [7, 7], inC: 4, outC: 6, r: 2, s: 2 }));

test('Conv2d LoRA with stride 2 and dilation 2, base without bias', () =>
  checkConv({ spatial: [9, 9], inC: 3, outC: 5, r: 2, s: 0.5, strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2], bias: false }));

test('grouped Conv2d LoRA (groups=2 on base, A and B)', () =>
  checkConv({ spatial: [6, 6], inC: 4, outC: 6, r: 2, group: 2, s: 1.5 }));

test('depthwise base conv (groups = channels) with depthwise LoRA convs', () =>
  checkConv({ spatial: [6, 6], inC: 4, outC: 4, r: 4, group: 4, groupA: 4, groupB: 4, s: 3 }));

test('ungrouped base conv with a grouped A conv (groups 2) and an ungrouped B', () =>
  checkConv({ spatial: [6, 6], inC: 4, outC: 6, r: 2, group: 1, groupA: 2, groupB: 1, s: 2 }));

test('Conv1d LoRA', () => checkConv({ spatial: [11], inC: 3, outC: 4, r: 2, s: 2 }));

test('Conv LoRA whose A mixes the base conv\'s groups is reported, not folded', () => {
  const built = buildConvUnchecked({ spatial: [5, 5], inC: 4, outC: 4, r: 2, group: 2, groupA: 1, groupB: 1, s: 2 });
  const { candidates, report } = scanAndFuse(built);
  const [cand] = loraCandidates(candidates);
  assert.match(cand.blocked ?? '', /mix channels across the base conv's 2 groups/);
  assert.ok(!report.applied.some((a) => a.id === cand.id));
});

test('Conv LoRA whose A has other padding than the base is reported, not folded', () => {
  const g = new GraphSpec();
  g.weight('w', [4, 3, 3, 3]);
  g.weight('a', [2, 3, 3, 3]);
  g.weight('b', [4, 2, 1, 1]);
  const base = g.op('Conv', 'base', ['x', 'w'], { pads: [1, 1, 1, 1] });
  let h = g.op('Conv', 'A', ['x', 'a'], { pads: [0, 0, 0, 0] });
  h = g.op('Conv', 'B', [h, 'b']);
  // padding differs, so the shapes differ too: the Add would not even run; scan must still not fold it
  const y = g.op('Add', 'add', [base, h]);
  const { candidates } = scanAndFuse(g.model([{ name: 'x', dims: [1, 3, 5, 5] }], [{ name: y }]));
  assert.match(loraCandidates(candidates)[0].blocked ?? '', /pads differ/);
});

function buildConvUnchecked(c: ConvCase): Uint8Array {
  const g = new GraphSpec();
  const group = c.group ?? 1;
  g.weight('w', [c.outC, c.inC / group, 3, 3]);
  g.weight('a', [c.r, c.inC / (c.groupA ?? 1), 3, 3]);
  g.weight('b', [c.outC, c.r / (c.groupB ?? 1), 1, 1]);
  const base = g.op('Conv', 'base', ['x', 'w'], { pads: [1, 1, 1, 1], group });
  let h = g.op('Conv', 'A', ['x', 'a'], { pads: [1, 1, 1, 1], group: c.groupA ?? 1 });
  h = g.op('Conv', 'B', [h, 'b'], { group: c.groupB ?? 1 });
  const y = g.op('Add', 'add', [base, h]);
  return g.model([{ name: 'x', dims: [1, c.inC, c.spatial[0], c.spatial[1]] }], [{ name: y }]);
}

test('Embedding LoRA: Gather of Aᵀ by the same ids, MatMul by Bᵀ, folded into the table', async () => {
  const g = new GraphSpec();
  const num = 10;
  const dim = 6;
  const r = 3;
  const s = 2;
  const E = g.weight('embed.base_layer.weight', [num, dim]);
  const At = g.weight('embed.lora_embedding_A.T', [num, r]);
  const Bt = g.weight('embed.lora_embedding_B.T', [r, dim]);
  const base = g.op('Gather', 'embed/Gather', ['embed.base_layer.weight', 'ids']);
  let h = g.op('Gather', 'embed/lora/Gather', ['embed.lora_embedding_A.T', 'ids']);
  h = g.op('MatMul', 'embed/lora/MatMul', [h, 'embed.lora_embedding_B.T']);
  h = g.op('Mul', 'embed/Mul', [h, g.constant('embed/scale', [], [s])]);
  const sum = g.op('Add', 'embed/Add', [base, h]);
  const y = g.op('Relu', 'head', [sum]);
  const bytes = g.model([{ name: 'ids', dims: [2, 5], dtype: DataType.INT64 }], [{ name: y }]);
  const feeds = { ids: { dims: [2, 5], values: [0, 3, 9, 2, 2, 7, 1, 4, 8, 5], dtype: DataType.INT64 } };
  const before = await run(bytes, feeds);
  const { candidates, model, bytes: fused } = scanAndFuse(bytes);
  const [cand] = loraCandidates(candidates);
  assert.equal(cand.blocked, null);
  assert.equal(cand.details?.base, 'Gather');
  assert.equal(cand.details?.rank, r);
  assert.equal(cand.details?.module, 'embed');
  assert.equal(opCount(model, 'Gather'), 1);
  assert.equal(opCount(model, 'MatMul'), 0);
  const expected = Float64Array.from(E, (v, i) => {
    const [n, d] = [Math.floor(i / dim), i % dim];
    let acc = 0;
    for (let k = 0; k < r; k++) acc += At[n * r + k] * Bt[k * dim + d];
    return v + s * acc;
  });
  assert.ok(maxRelDiff(initializer(model, 'embed.base_layer.weight'), expected, 1e-30) <= 2 ** -24);
  const after = await run(fused, feeds);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6);
});

test('a Conv exported without its bias input, the bias added after it, folds and keeps the bias Add', async () => {
  const g = new GraphSpec();
  g.weight('w', [4, 3, 3, 3]);
  g.weight('bias', [1, 4, 1, 1]);
  g.weight('a', [2, 3, 3, 3]);
  g.weight('b', [4, 2, 1, 1]);
  const conv = g.op('Conv', 'base', ['x', 'w'], { pads: [1, 1, 1, 1] });
  const biased = g.op('Add', 'bias_add', [conv, 'bias']);
  let h = g.op('Conv', 'A', ['x', 'a'], { pads: [1, 1, 1, 1] });
  h = g.op('Conv', 'B', [h, 'b']);
  const y = g.op('Add', 'merge', [biased, g.op('Mul', 'scale', [h, g.constant('s', [], [0.5])])]);
  const bytes = g.model([{ name: 'x', dims: [1, 3, 6, 6] }], [{ name: y }]);
  const feeds = { x: { dims: [1, 3, 6, 6], values: randn(108, 2) } };
  const before = await run(bytes, feeds);
  const { candidates, model, bytes: fused } = scanAndFuse(bytes);
  const [c] = loraCandidates(candidates);
  assert.equal(c.blocked, null);
  assert.deepEqual(c.nodes.slice(0, 2), ['base', 'bias_add']);
  assert.deepEqual(model.graph.node.map((n) => n.op_type), ['Conv', 'Add']);
  const after = await run(fused, feeds);
  assert.ok(scaledDiff(after[y], before[y]) < 1e-6);
});
