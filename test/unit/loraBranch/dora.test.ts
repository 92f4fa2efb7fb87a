/**
 * DoRA branches as PEFT's DoraLinearLayer computes them:
 *   result + (m/‖W+sBA‖ − 1) ⊙ (result − bias) + (m/‖W+sBA‖) ⊙ B(A(x)) · s
 * folded when the rescaling is constant (already folded by the exporter, or
 * computed in the graph from constants — evaluated here in float64), and
 * reported as not foldable when it depends on a run-time value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, GraphSpec, initializer, loraCandidates, opCount, randn, refMatmul, run, scaledDiff, scanAndFuse } from './helpers';

const IN = 8;
const OUT = 6;
const R = 2;
const S = 2;

type RescaleForm = 'folded' | 'in-graph' | 'runtime-magnitude';

function buildDora(form: RescaleForm) {
  const g = new GraphSpec();
  const Wt = g.weight('onnx::MatMul_7', [IN, OUT]); // the base weight as TorchScript stores it, [in, out]
  g.weight('fc.base_layer.bias', [OUT]);
  const At = g.weight('onnx::MatMul_8', [IN, R]);
  const Bt = g.weight('onnx::MatMul_9', [R, OUT]);
  const magnitude = randn(OUT, 77).map((v) => 1 + 0.2 * Math.abs(v));
  // Reference, float64: W' = mns ⊙ (W + s·ΔW) per output feature, mns = m / ‖W + s·ΔW‖ over the input axis.
  const delta = refMatmul(At, Bt, IN, R, OUT);
  const combined = Wt.map((v, k) => v + S * delta[k]);
  const norms = Array.from({ length: OUT }, (_, o) => Math.sqrt(Array.from({ length: IN }, (_, i) => combined[i * OUT + o] ** 2).reduce((a, b) => a + b, 0)));
  const mnsExact = norms.map((n, o) => Math.fround(magnitude[o]) / n);
  const expected = combined.map((v, k) => v * mnsExact[k % OUT]);

  let mns: string;
  const inputs: { name: string; dims: number[] }[] = [{ name: 'x', dims: [2, 3, IN] }];
  if (form === 'folded') {
    mns = g.init('mag_norm_scale', [1, OUT], mnsExact);
  } else {
    // x_eye = eye(in); lora_weight = B(A(x_eye))ᵀ; weight = Wᵀ (PyTorch layout); norm over dim 1
    if (form === 'runtime-magnitude') inputs.push({ name: 'magnitude', dims: [OUT] });
    else g.init('fc.lora_magnitude_vector.default.weight', [OUT], magnitude);
    const magName = form === 'runtime-magnitude' ? 'magnitude' : 'fc.lora_magnitude_vector.default.weight';
    const eye = g.constant('x_eye', [IN, IN], Float64Array.from({ length: IN * IN }, (_, k) => (k % (IN + 1) === 0 ? 1 : 0)));
    let lw = g.op('MatMul', 'dora/eyeA', [eye, 'onnx::MatMul_8']);
    lw = g.op('MatMul', 'dora/eyeB', [lw, 'onnx::MatMul_9']);
    lw = g.op('Transpose', 'dora/lwT', [lw], { perm: [1, 0] });
    const w = g.op('Transpose', 'dora/wT', ['onnx::MatMul_7'], { perm: [1, 0] });
    const sum = g.op('Add', 'dora/sum', [w, g.op('Mul', 'dora/scaled', [lw, g.constant('dora/s', [], [S])])]);
    const norm = g.op('ReduceL2', 'dora/norm', [sum], { axes: [1], keepdims: 0 });
    const ratio = g.op('Div', 'dora/ratio', [magName, norm]);
    mns = g.op('Reshape', 'dora/view', [ratio, g.constant('dora/shape', [2], [1, -1], DataType.INT64)]);
  }
  const mm = g.op('MatMul', 'fc/base_layer/MatMul', ['x', 'onnx::MatMul_7']);
  const base = g.op('Add', 'fc/base_layer/Add', ['fc.base_layer.bias', mm]);
  const c1 = form === 'folded' ? g.init('mns_minus_1', [1, OUT], mnsExact.map((v) => v - 1)) : g.op('Sub', 'dora/minus1', [mns, g.constant('one', [], [1])]);
  const unbiased = g.op('Sub', 'fc/Sub', [base, 'fc.base_layer.bias']);
  const rescaled = g.op('Mul', 'fc/Mul', [c1, unbiased]);
  let lora = g.op('MatMul', 'fc/lora_A/MatMul', ['x', 'onnx::MatMul_8']);
  lora = g.op('MatMul', 'fc/lora_B/MatMul', [lora, 'onnx::MatMul_9']);
  lora = g.op('Mul', 'fc/Mul_1', [mns, lora]);
  lora = g.op('Mul', 'fc/Mul_2', [lora, g.constant('fc/scaling', [], [S])]);
  const dora = g.op('Add', 'fc/Add', [rescaled, lora]);
  const y = g.op('Add', 'fc/Add_1', [base, dora]);
  return { bytes: g.model(inputs, [{ name: y }]), y, expected, inputs };
}

for (const form of ['folded', 'in-graph'] as const) {
  test(`DoRA with the rescaling ${form === 'folded' ? 'already folded to a constant' : 'computed in the graph from constants'} is folded`, async () => {
    const built = buildDora(form);
    const feeds = { x: { dims: [2, 3, IN], values: randn(2 * 3 * IN, 4) } };
    const before = await run(built.bytes, feeds);
    const { candidates, report, model, bytes } = scanAndFuse(built.bytes);
    const [c] = loraCandidates(candidates);
    assert.equal(c.blocked, null);
    assert.equal(c.details?.dora, true);
    assert.equal(c.details?.rank, R);
    assert.equal(c.details?.scale, S);
    assert.ok(report.applied.some((a) => a.id === c.id));
    assert.equal(opCount(model, 'MatMul'), 1);
    assert.equal(opCount(model, 'Add'), 1, 'only the bias Add is left');
    assert.equal(opCount(model, 'Sub', 'Mul', 'ReduceL2', 'Transpose', 'Div', 'Reshape'), 0, 'the constant DoRA subgraph is gone too');
    const foldedWeight = model.graph.node.find((n) => n.op_type === 'MatMul')!.input![1];
    // The graph's own constants are float32 (m/‖·‖ − 1 rounded separately), so the reference agrees to float32
    // precision relative to the weight's scale, not to the last bit of entries where W and s·ΔW cancel.
    assert.ok(scaledDiff(initializer(model, foldedWeight), built.expected) < 1e-6, `${scaledDiff(initializer(model, foldedWeight), built.expected)}`);
    assert.deepEqual(initializer(model, 'fc.base_layer.bias').length, OUT, 'bias kept');
    const after = await run(bytes, feeds);
    assert.ok(scaledDiff(after[built.y], before[built.y]) < 1e-6, `${scaledDiff(after[built.y], before[built.y])}`);
  });
}

test('DoRA whose magnitude is a run-time input is reported as not constant-foldable', () => {
  const built = buildDora('runtime-magnitude');
  const { candidates, report } = scanAndFuse(built.bytes);
  const [c] = loraCandidates(candidates);
  assert.match(c.blocked ?? '', /DoRA rescaling by 'dora\/minus1_out' is not constant-foldable: 'magnitude' is a graph input/);
  assert.equal(report.applied.length, 0);
});

