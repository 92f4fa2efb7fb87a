import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiffRequest } from '../../../extension/views/diffRequest';
import { diffReportMarkdown } from '../../../extension/engine/stats/diffReport';
import { num } from '../../../shared/format';
import { computeParamDiff } from '../../../extension/engine/stats/paramDiff';
import { SafetensorsParamSource } from '../../../extension/engine/stats/paramSource';
import type { ModelChangeOutcome } from '../../../extension/protocol/extensionMethods';
import type { VerifyReport } from '../../../extension/protocol/workerProtocol';
import { ModelFuseError } from '../../../extension/engine/errors';
import { fixture } from '../helpers/fixtures';

test('showDiff accepts the fuse outcome the fuse command passes: folds become records, verification is kept', () => {
  const outcome: ModelChangeOutcome = {
    kind: 'fuse', before: '/m/model.onnx', after: '/m/model.fused.onnx', verification: null,
    fuse: {
      input: '/m/model.onnx', output: '/m/model.fused.onnx', committed: true, keptFailed: null, externalData: null, skipped: [], nodesBefore: 5, nodesAfter: 3, initializersBefore: 7, initializersAfter: 2,
      cleanup: { removedNodes: [], removedInitializers: [], removedInputs: [], removedValueInfo: [] },
      applied: [{
        id: 'conv-bn:/conv1/Conv', pattern: 'conv-bn', nodes: ['/conv1/Conv', '/bn1/BatchNormalization'], modules: ['conv1', 'bn1'], removedNodes: ['/bn1/BatchNormalization'], addedNodes: [],
        changedTensors: [
          { role: 'weight', node: '/conv1/Conv', before: { name: 'conv1.weight', dims: [8, 3, 3, 3], dtype: 'float32' }, after: { name: 'conv1.weight', dims: [8, 3, 3, 3], dtype: 'float32' }, storage: 'overwritten' },
          { role: 'bias', node: '/conv1/Conv', before: null, after: { name: 'conv1.bias', dims: [8], dtype: 'float32' }, storage: 'added' },
        ],
      }],
    },
  };
  const r = parseDiffRequest(outcome);
  assert.equal(r.kind, 'fuse');
  assert.deepEqual(r.folds?.[0].changedTensors, [
    { role: 'weight', node: '/conv1/Conv', before: { name: 'conv1.weight' }, after: { name: 'conv1.weight' } },
    { role: 'bias', node: '/conv1/Conv', before: null, after: { name: 'conv1.bias' } },
  ]);
  assert.equal(r.verify, null);
});

test('showDiff accepts a merge outcome: one LoRA layer per target, ranks of adapters merged into one tensor add up', () => {
  const pair = (adapter: string, target: string, rank: number, scale: number) => ({ adapter, module: target.replace(/\.weight$/, ''), keys: [], delta: 'linear' as const, transposed: false, bias: null, peft_scale: scale, weight: 1, global_scale: 1, scale_evidence: 'alpha/r', dora: false, node: null, target, shape: [32, 32], dtype: 'float32', kind: 'lora' as const, rank, alpha: rank * scale, scale, evidence: [], shared_with: [], algorithm: 'LoRA', dora_convention: null });
  const outcome: ModelChangeOutcome = {
    kind: 'lora-merge', before: '/b/base.safetensors', after: '/b/merged.safetensors', verification: null,
    plan: { base: '/b/base.safetensors', base_kind: 'safetensors', usable: true, adapters: [], unmatched: [], errors: [], planned: { basePath: '/b/base.safetensors', specs: [], options: {}, pairs: [], unmatched: [], errors: [], files: [] }, pairs: [pair('a', 'q.weight', 4, 2), pair('b', 'q.weight', 8, 0.5), pair('a', 'v.weight', 4, 2)] },
    merge: { base: '/b/base.safetensors', output: '/b/merged.safetensors', files: [], tensorsWritten: 2, merged: [
      { adapter: 'a', key: 'base_model.model.q', target: 'q.weight', scale: 2, delta_fro: 1, rel_change: 0.1 },
      { adapter: 'b', key: 'base_model.model.q', target: 'q.weight', scale: 0.5, delta_fro: 1, rel_change: 0.1 },
      { adapter: 'a', key: 'base_model.model.v', target: 'v.weight', scale: 2, delta_fro: 1, rel_change: 0.1 },
    ] },
  };
  const r = parseDiffRequest(outcome);
  assert.equal(r.kind, 'merge');
  assert.deepEqual(r.lora, [
    { target: 'q.weight', keys: ['base_model.model.q', 'base_model.model.q'], rank: 12, scale: 2, adapter: 'a + b' },
    { target: 'v.weight', keys: ['base_model.model.v'], rank: 4, scale: 2, adapter: 'a' },
  ]);
});

test('showDiff refuses malformed arguments with one clear line', () => {
  assert.throws(() => parseDiffRequest(undefined), (e: unknown) => e instanceof ModelFuseError && /needs the two files/.test(e.message));
  assert.throws(() => parseDiffRequest({ before: 'a.onnx' }), ModelFuseError);
  assert.throws(() => parseDiffRequest({ before: 'a', after: 'b', kind: 'bogus' }), /unknown kind 'bogus'/);
  assert.throws(() => parseDiffRequest({ before: 'a', after: 'b', folds: 'x' }), /folds must be a list/);
  assert.deepEqual(parseDiffRequest({ before: 'a', after: 'b' }), { before: 'a', after: 'b', kind: 'compare', folds: [], lora: [], verify: null });
});

test('Markdown report: every changed tensor, the LoRA ranks and the verification verdict, tables well-formed', () => {
  const base = SafetensorsParamSource.open(fixture('lora_linear_qv', 'base.safetensors'));
  const merged = SafetensorsParamSource.open(fixture('lora_linear_qv', 'merged.safetensors'));
  const summary = computeParamDiff(base, merged, { lora: [{ target: 'layers.0.attn.q_proj.weight', keys: ['base_model.model.layers.0.attn.q_proj'], rank: 4, scale: 2 }] });
  base.close();
  merged.close();
  const verify: VerifyReport = {
    passed: false, a: 'a.onnx', b: 'b.onnx', tolerance: { atol: 1e-4, rtol: 1e-3 },
    outputs: { 'y|z': { max_abs: 0.5, mean_abs: 0.01, median_abs: 0.001, p99_abs: 0.2, max_rel: 3, mean_rel: 0.1, median_rel: 0.01, p99_rel: 1, cosine: 0.99, passed: false, reason: '12 elements over tolerance', dtype: 'float32', shape: [1, 4], elements: 4, mismatched: 2, nonfinite_mismatched: 0 } },
    latency_ms: { runs: 20, warmups: 2, a: { disabled: 2, all: 1.5 }, b: { disabled: 1.8, all: 1.2 } },
    inputs: { source: 'random', seed: 0, tensors: {} },
    weak: [],
  };
  const md = diffReportMarkdown(summary, { title: 'Merged: base → merged', kind: 'merge', verify, generated: '2026-01-01T00:00:00Z' });
  assert.match(md, /^# Merged: base → merged\n/);
  assert.match(md, /\*\*FAILED\*\* with atol 0\.0001, rtol 0\.001/);
  assert.match(md, /\| y\\\|z \| 0\.5000 \|/); // a pipe in a name is escaped, not a new column
  assert.match(md, /FAIL: 12 elements over tolerance/);
  for (const t of summary.changed) assert.ok(md.includes(`| ${t.name} |`), t.name);
  assert.match(md, /\| layers\.0\.attn\.q_proj\.weight \| base_model\.model\.layers\.0\.attn\.q_proj \| 4 \| 2\.000 \| [0-9.]+ \| 4 \|/);
  // Every table row has as many cells as its header.
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\| -/.test(lines[i]) && !/^\| -+:? \|/.test(lines[i]) && !/^\|( -{3}:?( \|)?)+/.test(lines[i])) continue;
    const cols = (lines[i].match(/ \| /g) ?? []).length;
    for (let j = i + 1; j < lines.length && lines[j].startsWith('|'); j++) {
      assert.equal((lines[j].replace(/\\\|/g, '').match(/ \| /g) ?? []).length, cols, `row ${j}: ${lines[j]}`);
    }
  }
  assert.equal(num(0), '0');
  assert.equal(num(null), '—');
  assert.equal(num(1.23456e-7), '1.235e-7');
});
