import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { fuseCandidates } from '../../../extension/engine/fusion/fuse';
import { effectiveRank, gaussian, jacobiSingularValues } from '../../../extension/engine/stats/effectiveRank';
import { sharedHistogram } from '../../../extension/engine/stats/histogram';
import { computeParamDiff } from '../../../extension/engine/stats/paramDiff';
import { batchNormChannels } from '../../../extension/engine/stats/foldChannels';
import { OnnxParamSource, SafetensorsParamSource } from '../../../extension/engine/stats/paramSource';
import type { FoldRecord } from '../../../extension/engine/stats/paramDiffTypes';
import { fixture, tempDir } from '../helpers/fixtures';

const F32_EPS = 2 ** -23;

/** Random m×n matrix with orthonormal columns (Gram–Schmidt of Gaussian vectors), column-major as vectors. */
function orthonormalColumns(m: number, n: number, seed: number): Float64Array[] {
  const g = gaussian(seed);
  const cols: Float64Array[] = [];
  while (cols.length < n) {
    const v = Float64Array.from({ length: m }, g);
    for (let pass = 0; pass < 2; pass++) {
      for (const u of cols) {
        let d = 0;
        for (let i = 0; i < m; i++) d += u[i] * v[i];
        for (let i = 0; i < m; i++) v[i] -= d * u[i];
      }
    }
    const nv = Math.hypot(...v);
    cols.push(v.map((x) => x / nv));
  }
  return cols;
}

/** U·diag(s)·Vᵀ, row-major [m, n]: a matrix whose singular values are exactly s. */
function withSingularValues(m: number, n: number, s: number[], seed: number): Float64Array {
  const u = orthonormalColumns(m, s.length, seed);
  const v = orthonormalColumns(n, s.length, seed + 1);
  const out = new Float64Array(m * n);
  s.forEach((sk, k) => {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] += sk * u[k][i] * v[k][j];
  });
  return out;
}

test('Jacobi SVD returns the constructed singular values (exact path, wide and tall)', () => {
  const s = [9, 4.5, 2, 1, 0.25, 1e-3];
  for (const [m, n] of [[12, 40], [40, 12]]) {
    const a = withSingularValues(m, n, s, 7);
    const r = effectiveRank(a, m, n, { dtypeEpsilon: Number.EPSILON, weightRms: 1 });
    assert.equal(r.method, 'exact');
    assert.equal(r.rank, 6);
    assert.deepEqual(r.matrix, [m, n]);
    s.forEach((sk, k) => assert.ok(Math.abs(r.singularValues[k] - sk) < 1e-12 * s[0], `σ${k} ${r.singularValues[k]} vs ${sk}`));
    assert.ok(r.singularValues.slice(6).every((x) => x < 1e-12));
  }
  assert.deepEqual(jacobiSingularValues([Float64Array.of(3, 0), Float64Array.of(0, 4)]), [4, 3]);
});

test('randomized path: a rank-5 delta of a 200×300 float32 weight has numerical rank 5, not 200', () => {
  const m = 200;
  const n = 300;
  const g = gaussian(3);
  const w0 = Float64Array.from({ length: m * n }, () => Math.fround(0.05 * g()));
  const low = withSingularValues(m, n, [0.8, 0.5, 0.3, 0.2, 0.1], 11);
  // The merged weight is stored as float32: ΔW carries the rounding noise of that.
  const delta = Float64Array.from(w0, (w, i) => Math.fround(w + low[i]) - w);
  const rms = Math.sqrt(w0.reduce((acc, x) => acc + x * x, 0) / w0.length);
  const r = effectiveRank(delta, m, n, { dtypeEpsilon: F32_EPS, weightRms: rms, rankHint: 4 });
  assert.equal(r.method, 'randomized');
  assert.equal(r.rank, 5);
  [0.8, 0.5, 0.3, 0.2, 0.1].forEach((sk, k) => assert.ok(Math.abs(r.singularValues[k] - sk) < 1e-5, `σ${k}=${r.singularValues[k]}`));
  // Without the dtype noise floor the same rounding noise would count as rank.
  const naive = effectiveRank(delta, m, n, { dtypeEpsilon: 0, weightRms: rms, rankHint: 4 });
  assert.ok(naive.rank > 5, `noise must be visible without the floor (got ${naive.rank})`);
});

test('full-rank matrices above the exact limit are found full rank (the sketch grows until it is not saturated)', () => {
  const m = 90;
  const n = 70;
  const g = gaussian(5);
  const a = Float64Array.from({ length: m * n }, g);
  const r = effectiveRank(a, m, n, { dtypeEpsilon: F32_EPS, weightRms: 1 });
  assert.equal(r.rank, 70);
  assert.equal(r.method, 'exact');
  const zero = effectiveRank(new Float64Array(m * n), m, n, { dtypeEpsilon: F32_EPS, weightRms: 1 });
  assert.equal(zero.rank, 0);
});

test('histograms share one range, count every finite value once and keep NaN/Inf apart', () => {
  const h = sharedHistogram([0, 1, 2, 3, NaN], [2, 4, Infinity, -Infinity], 4);
  assert.equal(h.min, 0);
  assert.equal(h.max, 4);
  assert.deepEqual(h.before, [1, 1, 1, 1]); // bins [0,1) [1,2) [2,3) [3,4]: the maximum lands in the last bin
  assert.deepEqual(h.after, [0, 0, 1, 1]);
  assert.equal(h.nonFiniteBefore, 1);
  assert.equal(h.nonFiniteAfter, 2);
  const flat = sharedHistogram([5, 5], [5], 8);
  assert.deepEqual([flat.min, flat.max, flat.before[0], flat.after[0]], [5, 5, 2, 1]);
  assert.throws(() => sharedHistogram([1], [1], 0), /positive integer/);
});

test('fused conv+bn model: conv weights changed by exactly the BN scale per channel, BN parameters removed, record-matched', async () => {
  const src = fixture('zoo_conv_bn_relu', 'model.onnx');
  const model = OnnxModel.load(src);
  const { candidates } = scanModel(model);
  const report = fuseCandidates(model, candidates);
  assert.ok(report.applied.length >= 2, `expected conv-bn folds, got ${report.applied.map((a) => a.pattern)}`);
  const out = path.join(tempDir(), 'model.fused.onnx');
  await saveModel(model, out);
  model.close();

  const before = OnnxParamSource.open(src);
  const after = OnnxParamSource.open(out);
  const folds: FoldRecord[] = report.applied.map((a) => ({
    id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules, removedNodes: a.removedNodes,
    changedTensors: a.changedTensors.map((t) => ({
      role: t.role, node: t.node, before: t.before ? { name: t.before.name } : null, after: { name: t.after.name },
    })),
  }));
  const channels = new Map(folds.map((f) => [f.id, batchNormChannels(before, f)!]));
  const diff = computeParamDiff(before, after, { folds, foldChannels: channels, bins: 16 });

  const bnFolds = diff.folds.filter((f) => f.channels);
  assert.equal(bnFolds.length, 2); // conv1+bn1, conv2+bn2
  for (const fold of bnFolds) {
    const weight = diff.changed.find((t) => t.foldId === fold.id && t.shape.length === 4);
    assert.ok(weight, `no changed weight for ${fold.id}`);
    assert.equal(weight.status, 'changed');
    const w0 = before.values(weight.beforeName!);
    const w1 = after.values(weight.name);
    const perChannel = w0.length / weight.shape[0];
    const scale = fold.channels!.scale;
    assert.equal(scale.length, weight.shape[0]);
    let worst = 0;
    for (let i = 0; i < w0.length; i++) {
      const expected = Math.fround(w0[i] * scale[Math.floor(i / perChannel)]);
      worst = Math.max(worst, Math.abs(w1[i] - expected) / Math.max(Math.abs(expected), 1e-12));
    }
    assert.ok(worst <= F32_EPS, `W' ≠ W·γ/√(σ²+ε) (worst relative error ${worst})`);
    // The summary's numbers are those of the arrays.
    let n0 = 0;
    let nd = 0;
    let mx = 0;
    for (let i = 0; i < w0.length; i++) {
      n0 += w0[i] ** 2;
      nd += (w1[i] - w0[i]) ** 2;
      mx = Math.max(mx, Math.abs(w1[i] - w0[i]));
    }
    assert.ok(Math.abs(weight.normBefore - Math.sqrt(n0)) < 1e-9);
    assert.ok(Math.abs(weight.deltaNorm! - Math.sqrt(nd)) < 1e-9);
    assert.equal(weight.maxAbsDelta, mx);
    assert.ok(Math.abs(weight.relativeChange! - Math.sqrt(nd) / Math.sqrt(n0)) < 1e-12);
    assert.equal(weight.histogram.before.reduce((a, b) => a + b, 0), weight.elements);
    assert.equal(weight.histogram.after.reduce((a, b) => a + b, 0), weight.elements);
    assert.ok(weight.module, 'module recovered');
    // The BN's own parameters are gone from the fused model.
    const bn = before.model.graph.node!.find((n) => n.name === fold.channels!.bnNode)!;
    for (const p of bn.input!.slice(1)) assert.ok(diff.removed.some((r) => r.name === p), `BN parameter ${p} listed as removed`);
  }
  // conv3 (no BN) is untouched: counted as unchanged, never listed.
  assert.ok(diff.unchangedCount > 0);
  assert.equal(diff.changed.filter((t) => !t.foldId).length, 0);
  before.close();
  after.close();
});

test('PEFT merge (real fixture): q/v projections changed with effective rank r, nothing else changed', () => {
  for (const [name, r, alpha] of [['lora_linear_qv', 4, 8], ['lora_conv', 2, 4]] as const) {
    const base = SafetensorsParamSource.open(fixture(name, 'base.safetensors'));
    const merged = SafetensorsParamSource.open(fixture(name, 'merged.safetensors'));
    const adapterKeys = SafetensorsParamSource.open(fixture(name, 'adapters', 'adapter_model.safetensors')).names();
    const targets = [...new Set(adapterKeys.map((k) => k.replace(/^base_model\.model\./, '').replace(/\.lora_[AB]\.weight$/, '.weight')))];
    const lora = targets.map((t) => ({ target: t, keys: adapterKeys.filter((k) => k.includes(t.replace(/\.weight$/, '.lora_'))), rank: r, scale: alpha / r, adapter: 'default' }));
    const diff = computeParamDiff(base, merged, { lora });
    assert.deepEqual(diff.changed.map((t) => t.name).sort(), [...targets].sort(), name);
    assert.equal(diff.removed.length, 0);
    assert.equal(diff.lora.length, targets.length);
    for (const l of diff.lora) {
      assert.equal(l.keys.length, 2);
      assert.ok(l.relativeChange! > 0, `${l.target} changed`);
      assert.equal(l.effectiveRank?.rank, r, `${name} ${l.target}: effective rank ${l.effectiveRank?.rank} (σ=${l.effectiveRank?.singularValues.slice(0, r + 2).map((x) => x.toExponential(2))}, tol ${l.effectiveRank?.tolerance.toExponential(2)})`);
      assert.equal(l.module, l.target.replace(/\.weight$/, ''));
    }
    base.close();
    merged.close();
  }
});

test('comparing two unrelated files: names only in one side are added/removed, equal bytes are unchanged', () => {
  const a = SafetensorsParamSource.open(fixture('lora_linear_qv', 'base.safetensors'));
  const b = SafetensorsParamSource.open(fixture('lora_conv', 'base.safetensors'));
  const diff = computeParamDiff(a, b);
  assert.equal(diff.unchangedCount, 0);
  assert.ok(diff.changed.every((t) => t.status === 'added' && t.beforeName === null && t.normBefore === 0));
  assert.equal(diff.changed.length, b.names().length);
  assert.equal(diff.removed.length, a.names().length);
  const same = computeParamDiff(a, a);
  assert.equal(same.changed.length, 0);
  assert.equal(same.unchangedCount, a.names().length);
  assert.equal(same.unchangedParameters, same.before.parameters);
  a.close();
  b.close();
});

test('a fold that copied a shared weight: the copy is compared with the original it came from, the shared one stays unchanged', async () => {
  const { writeModel, randn, positive, candidate } = await import('../fusion/helpers/build');
  const dir = tempDir();
  const src = writeModel(dir, 'shared.onnx', {
    inputs: [{ name: 'x', dims: [1, 3, 6, 6] }],
    outputs: [{ name: 'y' }, { name: 'z' }],
    initializers: [
      { name: 'conv.weight', dims: [4, 3, 3, 3], values: randn(108, 1) },
      { name: 'conv.bias', dims: [4], values: randn(4, 2) },
      { name: 'bn.weight', dims: [4], values: randn(4, 3, 0.2, 1) },
      { name: 'bn.bias', dims: [4], values: randn(4, 4) },
      { name: 'bn.running_mean', dims: [4], values: randn(4, 5) },
      { name: 'bn.running_var', dims: [4], values: positive(4, 6) },
    ],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'conv.weight', 'conv.bias'], outputs: ['c'] },
      { op: 'BatchNormalization', name: 'bn', inputs: ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: ['y'], attrs: { epsilon: { float: 1e-3 } } },
      { op: 'Conv', name: 'conv2', inputs: ['x', 'conv.weight', 'conv.bias'], outputs: ['z'] },
    ],
  });
  const model = OnnxModel.load(src);
  const report = fuseCandidates(model, [candidate('conv-bn', ['conv', 'bn'], ['conv', 'bn'])]);
  assert.equal(report.applied.length, 1, JSON.stringify(report.skipped));
  const out = path.join(dir, 'shared.fused.onnx');
  await saveModel(model, out);
  model.close();

  const before = OnnxParamSource.open(src);
  const after = OnnxParamSource.open(out);
  const a = report.applied[0];
  const fold: FoldRecord = {
    id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules, removedNodes: a.removedNodes,
    changedTensors: a.changedTensors.map((t) => ({
      role: t.role, node: t.node, before: t.before ? { name: t.before.name } : null, after: { name: t.after.name },
    })),
  };
  const diff = computeParamDiff(before, after, { folds: [fold], foldChannels: new Map([[fold.id, batchNormChannels(before, fold)!]]) });
  assert.deepEqual(diff.changed.map((t) => [t.name, t.beforeName, t.status, t.foldId]), [
    ['conv.bias_fused', 'conv.bias', 'changed', fold.id],
    ['conv.weight_fused', 'conv.weight', 'changed', fold.id],
  ]);
  // The shared originals are still read by conv2, byte for byte.
  assert.equal(diff.unchangedCount, 2);
  assert.deepEqual(diff.removed.map((r) => r.name).sort(), ['bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.weight']);
  // The copy's change is W·(scale − 1) per channel: check its norm against the BN map recomputed here.
  const gamma = before.values('bn.weight');
  const variance = before.values('bn.running_var');
  const w = before.values('conv.weight');
  let expected = 0;
  for (let i = 0; i < w.length; i++) {
    const o = Math.floor(i / 27);
    const s = gamma[o] / Math.sqrt(variance[o] + Math.fround(1e-3));
    expected += (w[i] * (s - 1)) ** 2;
  }
  const weight = diff.changed.find((t) => t.name === 'conv.weight_fused')!;
  assert.ok(Math.abs(weight.deltaNorm! - Math.sqrt(expected)) / Math.sqrt(expected) < 1e-6, `${weight.deltaNorm} vs ${Math.sqrt(expected)}`);
  assert.equal(weight.module, 'conv');
  before.close();
  after.close();
});
