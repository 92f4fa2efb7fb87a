import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuseSummary, mergeSummary, planRows, sci, verificationLine } from '../../../extension/commands/summaries';
import type { OutputReport, VerifyReport } from '../../../extension/protocol/workerProtocol';
import type { FuseFileResult, LoraPlanResult } from '../../../extension/protocol/extensionMethods';

function output(maxAbs: number, passed: boolean, reason?: string): OutputReport {
  return { max_abs: maxAbs, mean_abs: maxAbs / 10, median_abs: 0, p99_abs: maxAbs / 2, max_rel: 0, mean_rel: 0, median_rel: 0, p99_rel: 0, cosine: 0.9999, passed, reason, dtype: 'float32', shape: [1, 8], elements: 8, mismatched: passed ? 0 : 3, nonfinite_mismatched: 0 };
}
function report(outputs: Record<string, OutputReport>, latency = false, weak: string[] = []): VerifyReport {
  return {
    passed: Object.values(outputs).every((o) => o.passed), a: '/m/model.onnx', b: '/m/model.fused.onnx', tolerance: { atol: 1e-4, rtol: 1e-3 }, outputs,
    latency_ms: latency ? { runs: 10, warmups: 2, a: { disabled: 2, all: 1.5 }, b: { disabled: 1.8, all: 1.25 } } : null,
    inputs: { source: 'random', seed: 0, tensors: { x: { dtype: 'float32', shape: [1, 3, 224, 224], values: 'normal(0,1)' } } },
    weak,
  };
}
const fuse: FuseFileResult = {
  input: '/m/model.onnx', output: '/m/model.fused.onnx', committed: true, keptFailed: null, externalData: null,
  applied: [{ id: 'conv-bn:/a', pattern: 'conv-bn', nodes: [], modules: [], changedTensors: [], removedNodes: ['/bn'], addedNodes: [] }],
  skipped: [{ id: 'conv-bn:/c', reason: 'the BN output is read twice' }],
  cleanup: { removedNodes: [], removedInitializers: [], removedInputs: [], removedValueInfo: [] },
  nodesBefore: 20, nodesAfter: 19, initializersBefore: 10, initializersAfter: 6,
};

test('numbers in notifications: 3 significant digits, scientific when tiny', () => {
  assert.equal(sci(4.172325134277344e-7), '4.17e-7');
  assert.equal(sci(0.0730002), '0.073');
  assert.equal(sci(0), '0');
  assert.equal(sci(null), 'n/a');
});

test('a passing verification names the largest difference, the tolerances and the latency', () => {
  assert.equal(
    verificationLine(report({ y: output(4.2e-7, true), z: output(1e-6, true) }, true)),
    'Verified in ONNX Runtime: all 2 outputs match, max |Δ| 1.00e-6 (atol 1.00e-4, rtol 0.001) · latency 1.50 → 1.25 ms. Inputs: x float32[1, 3, 224, 224] (random normal(0,1), seed 0).',
  );
});

test('a pass on a degenerate input is a weak check, with the reason and the inputs, never "Verified"', () => {
  const line = verificationLine(report({ y: output(0, true) }, false, ["Conv 'conv1' gets a 1×1 input under a 3×3 window: at this input size the layers see mostly padding"]));
  assert.equal(
    line,
    "Weak check (not verified): the output matches in ONNX Runtime, max |Δ| 0, but Conv 'conv1' gets a 1×1 input under a 3×3 window: at this input size the layers see mostly padding. " +
      'Inputs: x float32[1, 3, 224, 224] (random normal(0,1), seed 0). Choose other inputs with "ModelFuse: Verification Inputs…".',
  );
  assert.doesNotMatch(line, /Verified/);
});

test('a failing verification names each failing output with its reason', () => {
  const line = verificationLine(report({ y: output(0.5, false, '3 of 8 elements exceed the tolerance'), z: output(0, true) }));
  assert.equal(line, "Verification FAILED (atol 1.00e-4, rtol 0.001): 'y' 3 of 8 elements exceed the tolerance. Inputs: x float32[1, 3, 224, 224] (random normal(0,1), seed 0).");
});

test('the fuse summary names the output, node counts, verification and everything not fused', () => {
  const s = fuseSummary(fuse, report({ y: output(4.2e-7, true) }), [{ item: 'linear-relu (fc2 → relu2)', reason: 'grouping only' }]);
  assert.equal(
    s,
    'Fused 1 sequence of model.onnx → model.fused.onnx (20 → 19 nodes). Verified in ONNX Runtime: the output matches, max |Δ| 4.20e-7 (atol 1.00e-4, rtol 0.001). ' +
      'Inputs: x float32[1, 3, 224, 224] (random normal(0,1), seed 0). ' +
      'Not fused: linear-relu (fc2 → relu2): grouping only; conv-bn:/c: the BN output is read twice.',
  );
});

test('plan rows: one per pairing with target, scale and evidence; unmatched modules flagged', () => {
  const plan: LoraPlanResult = {
    base: '/m/base.onnx', base_kind: 'onnx', usable: false, adapters: [{ adapter: '/m/adapter', file: '/m/adapter/adapter_model.safetensors', format: 'peft', weight: 1, modules: 2, config: { source: 'adapter_config.json', fromOptions: false } }],
    pairs: [{ adapter: '/m/adapter', module: 'layers.0.q_proj', keys: [], delta: 'linear', transposed: false, bias: null, peft_scale: 2, weight: 1, global_scale: 1, scale_evidence: 'alpha/r', dora: false, node: null, target: 'onnx::MatMul_100', shape: [32, 32], dtype: 'float32', kind: 'lora', rank: 4, alpha: 8, scale: 2, evidence: ['bias matches', 'shape fits'], shared_with: [], algorithm: 'LoRA', dora_convention: null }],
    unmatched: [{ adapter: '/m/adapter', module: 'lm_head', keys: [], reason: 'no tensor of shape [64, 32]', candidates: [] }],
    errors: [],
    planned: { basePath: '/m/base.onnx', specs: [], options: {}, pairs: [], unmatched: [], errors: [], files: [] },
  };
  const rows = planRows(plan);
  assert.deepEqual(rows[0], { label: 'layers.0.q_proj', description: '→ onnx::MatMul_100 float32[32, 32]', detail: 'LoRA, rank 4, alpha 8, scale 2 · adapter · bias matches; shape fits', unmatched: false });
  assert.equal(rows[1].unmatched, true);
  assert.match(rows[1].detail, /no tensor of shape/);
});

test('the merge summary reports how far outputs moved, never pass/fail', () => {
  const s = mergeSummary(
    { base: '/m/base.onnx', output: '/m/base.merged.onnx', files: ['/m/base.merged.onnx'], merged: [{ adapter: 'a', key: 'q', target: 't', scale: 2, delta_fro: 0.6, rel_change: 0.19 }], tensorsWritten: 1 },
    report({ y: output(0.073, false, 'exceeds') }),
  );
  assert.equal(s, "Merged 1 adapter module into base.onnx → base.merged.onnx (largest ‖ΔW‖/‖W‖ 0.19). Outputs vs. the base in ONNX Runtime: 'y' max |Δ| 0.073, cosine 0.999900. Inputs: x float32[1, 3, 224, 224] (random normal(0,1), seed 0).");
});
