/**
 * Unmerged PEFT exports in the shapes real exporters give them, each built
 * twice: the unmerged graph and the base model alone. Each one: scan finds the
 * branch unblocked, fuse folds it down to the base model's node count, the
 * folded weight (and bias) equal the merge computed here in float64 from the
 * factors, and ONNX Runtime on the folded model reproduces the unmerged
 * model's output (1e-4 float32, 2e-2 float16 relative to the output's scale).
 *
 * - a float16 base with float32 adapters (PEFT's autocast_adapter_dtype):
 *   x cast up, the base output cast up, the sum cast back down;
 * - GPT-2's Conv1D (fan_in_fan_out) as TorchScript exports addmm: Reshape(x)
 *   from Shape arithmetic → Gemm(W[in, out], b) → Reshape back;
 * - the same from the dynamo exporter: constant Reshapes, weights `val_N`,
 *   module paths only in `pkg.torch.onnx.name_scopes`, every Linear as
 *   view → MatMul(Transpose(W)) → view;
 * - DoRA whose normalisation is built from shape arithmetic (Shape, Gather,
 *   Unsqueeze, Concat, ConstantOfShape, EyeLike, Expand, Slice);
 * - lora_bias (B's bias), as MatMul + Add and as a Gemm's C.
 */
import type { CandidateDetails } from '../../../extension/engine/fusion/candidate';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onnx } from '../../../extension/engine/onnx/proto';
import { maxRelDiff } from '../helpers/fixtures';
import { encodeModel, makeMetadata, makeNode, makeValueInfo } from '../helpers/onnxBuilder';
import { DataType, GraphSpec, initializer, loraCandidates, randn, refMatmul, run, scaledDiff, scanAndFuse, transpose2 } from './helpers';

const IN = 8;
const OUT = 6;
const R = 2;
const LEAD = [2, 3];
const I64 = DataType.INT64;

interface Built {
  unmerged: Uint8Array;
  base: Uint8Array;
  y: string;
  /** The folded weight's initializer name and its expected float64 values (before rounding). */
  weight: { name: string; expected: Float64Array };
  bias?: { name: string; expected: Float64Array };
  dtype: number;
}

/** Scan + fuse the unmerged model; every check of the header. */
async function checkFold(b: Built, expectDetails: Record<string, unknown> = {}): Promise<ReturnType<typeof scanAndFuse>> {
  const xDims = [...LEAD, IN];
  const feeds = { x: { dims: xDims, values: randn(xDims.reduce((p, q) => p * q, 1), 31), dtype: b.dtype } };
  const before = await run(b.unmerged, feeds);
  const fused = scanAndFuse(b.unmerged);
  const lora = loraCandidates(fused.candidates);
  assert.equal(lora.length, 1, JSON.stringify(fused.candidates.map((c) => [c.id, c.blocked])));
  assert.equal(lora[0].blocked, null);
  for (const [k, v] of Object.entries(expectDetails)) assert.deepEqual(k === 'modules' ? lora[0].modules : lora[0].details?.[k as keyof CandidateDetails], v, k);
  assert.ok(fused.report.applied.some((a) => a.id === lora[0].id), JSON.stringify(fused.report.skipped));

  const baseCount = onnx.ModelProto.decode(b.base).graph!.node!.length;
  assert.equal(fused.model.graph.node.length, baseCount, `node count ${fused.model.graph.node.map((n) => n.op_type).join(',')}`);

  const ulp = b.dtype === DataType.FLOAT16 ? 2 ** -11 : 2 ** -24;
  // The fold writes in place, or into a copy when the original is read elsewhere too (DoRA's norm reads W).
  const written = fused.report.applied.flatMap((a) => a.changedTensors);
  const nameOf = (role: string, dflt: string): string => written.find((t) => t.role === role)?.after.name ?? dflt;
  const folded = initializer(fused.model, nameOf('weight', b.weight.name));
  assert.ok(maxRelDiff(folded, b.weight.expected, 1e-30) <= ulp, `weight off by ${maxRelDiff(folded, b.weight.expected, 1e-30)}`);
  if (b.bias) {
    const bias = initializer(fused.model, nameOf('bias', b.bias.name));
    assert.ok(maxRelDiff(bias, b.bias.expected, 1e-30) <= ulp, `bias off by ${maxRelDiff(bias, b.bias.expected, 1e-30)}`);
  }
  const after = await run(fused.bytes, feeds);
  assert.deepEqual(Object.keys(after), [b.y], 'graph output kept');
  const diff = scaledDiff(after[b.y], before[b.y]);
  assert.ok(diff < (b.dtype === DataType.FLOAT16 ? 2e-2 : 1e-4), `output moved by ${diff}`);
  return fused;
}

/** A [r, in] and B [out, r] as PEFT stores them, with s·(BA)ᵀ = s·Aᵀ·Bᵀ in [in, out]. */
function factors(g: GraphSpec, seed: string, dtype: number): { A: Float64Array; B: Float64Array; delta: (s: number) => Float64Array } {
  const A = g.weight(`${seed}.A.tmp`, [R, IN], 0.3, dtype);
  const B = g.weight(`${seed}.B.tmp`, [OUT, R], 0.3, dtype);
  g.initializers.splice(g.initializers.length - 2, 2);
  const prod = refMatmul(transpose2(A, R, IN), transpose2(B, OUT, R), IN, R, OUT);
  return { A, B, delta: (s) => prod.map((v) => s * v) };
}

function buildHalfBase(withBranches: boolean, half: number = DataType.FLOAT16): Built {
  const g = new GraphSpec(half);
  const W = g.weight('onnx::MatMul_1', [IN, OUT]);
  const bias = g.weight('fc.base_layer.bias', [OUT]);
  let y = g.op('Add', 'fc/base_layer/Add', ['fc.base_layer.bias', g.op('MatMul', 'fc/base_layer/MatMul', ['x', 'onnx::MatMul_1'])]);
  const expected = Float64Array.from(W);
  if (withBranches) {
    // float32 adapters: x and the base output are cast up, the sum cast back down (PEFT's result.to(torch_result_dtype))
    let sum = g.op('Cast', 'fc/Cast', [y], { to: DataType.FLOAT });
    const xf = g.op('Cast', 'fc/Cast_1', ['x'], { to: DataType.FLOAT });
    [['default', 2], ['second', 0.5]].forEach(([name, s], k) => {
      const f = factors(g, String(name), DataType.FLOAT);
      g.init(`onnx::MatMul_a${k}`, [IN, R], transpose2(f.A, R, IN), DataType.FLOAT);
      g.init(`onnx::MatMul_b${k}`, [R, OUT], transpose2(f.B, OUT, R), DataType.FLOAT);
      let h = g.op('MatMul', `fc/lora_A.${name}/MatMul`, [xf, `onnx::MatMul_a${k}`]);
      h = g.op('MatMul', `fc/lora_B.${name}/MatMul`, [h, `onnx::MatMul_b${k}`]);
      h = g.op('Mul', `fc/Mul_${k}`, [h, g.constant(`fc/scale_${k}`, [], [Number(s)], DataType.FLOAT)]);
      sum = g.op('Add', `fc/Add_${k}`, [sum, h]);
      f.delta(Number(s)).forEach((v, i) => (expected[i] += v));
    });
    y = g.op('Cast', 'fc/Cast_2', [sum], { to: half });
  }
  y = g.op('Relu', 'act', [y]);
  void bias;
  const bytes = g.model([{ name: 'x', dims: [...LEAD, IN], dtype: half }], [{ name: y, dtype: half }]);
  return { unmerged: bytes, base: bytes, y, weight: { name: 'onnx::MatMul_1', expected }, dtype: half };
}

test('float16 base with float32 adapters (Casts up and down around two branches) folds, rounded once in float16', async () => {
  const unmerged = buildHalfBase(true);
  const fused = await checkFold({ ...unmerged, base: buildHalfBase(false).base }, { adapters: 2, rank: 2, scale: '2+0.5' });
  assert.equal(fused.model.graph.initializer.find((t) => t.name === 'onnx::MatMul_1')?.data_type, DataType.FLOAT16, 'the base keeps its dtype');
});

test('bfloat16 base with float32 adapters folds the same way, the weight rounded once to bfloat16 (ONNX Runtime has no CPU bfloat16 MatMul to compare outputs)', () => {
  const b = buildHalfBase(true, DataType.BFLOAT16);
  const fused = scanAndFuse(b.unmerged);
  const [c] = loraCandidates(fused.candidates);
  assert.equal(c.blocked, null);
  assert.equal(fused.model.graph.node.length, onnx.ModelProto.decode(buildHalfBase(false, DataType.BFLOAT16).base).graph!.node!.length);
  const w = fused.model.graph.initializer.find((t) => t.name === 'onnx::MatMul_1')!;
  assert.equal(w.data_type, DataType.BFLOAT16);
  const e = maxRelDiff(fused.model.tensorValues(w), b.weight.expected, 1e-30);
  assert.ok(e <= 2 ** -8, `one bfloat16 rounding: ${e}`);
});

test('float32 base: a branch rounded through float16 inside is still refused (the fold cannot reproduce that rounding)', () => {
  const g = new GraphSpec();
  g.weight('w', [IN, OUT]);
  g.weight('a', [IN, R]);
  g.weight('b', [R, OUT], 0.3, DataType.FLOAT16);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  const h = g.op('MatMul', 'B', [g.op('Cast', 'half', [g.op('MatMul', 'A', ['x', 'a'])], { to: DataType.FLOAT16 }), 'b']);
  const y = g.op('Add', 'add', [base, g.op('Cast', 'back', [h], { to: DataType.FLOAT })]);
  const [c] = loraCandidates(scanAndFuse(g.model([{ name: 'x', dims: [...LEAD, IN] }], [{ name: y }])).candidates);
  assert.match(c.blocked ?? '', /Cast 'half' to float16 inside the branch changes the precision \(the base computes in float32\)/);
});

/** GPT-2's Conv1D as TorchScript exports it: x.view(-1, x.size(-1)) → addmm(b, ·, W[in, out]) → view(*lead, out). */
function buildConv1dTorchScript(withBranch: boolean, s = 2): Built {
  const g = new GraphSpec();
  const W = g.weight('transformer.h.0.attn.c_attn.base_layer.weight', [IN, OUT]);
  const bias = g.weight('transformer.h.0.attn.c_attn.base_layer.bias', [OUT]);
  const p = '/transformer/h.0/attn/c_attn/base_layer';
  const shape = g.op('Shape', `${p}/Shape`, ['x']);
  const lastDim = g.op('Unsqueeze', `${p}/Unsqueeze`, [g.op('Gather', `${p}/Gather`, [shape, g.constant(`${p}/last`, [], [-1], I64)]), g.constant(`${p}/axes`, [1], [0], I64)]);
  const flatShape = g.op('Concat', `${p}/Concat`, [g.constant(`${p}/minus1`, [1], [-1], I64), lastDim], { axis: 0 });
  const flat = g.op('Reshape', `${p}/Reshape`, ['x', flatShape]);
  const gemm = g.op('Gemm', `${p}/Gemm`, [flat, 'transformer.h.0.attn.c_attn.base_layer.weight', 'transformer.h.0.attn.c_attn.base_layer.bias']);
  const lead = g.op('Slice', `${p}/Slice`, [shape, g.constant(`${p}/s0`, [1], [0], I64), g.constant(`${p}/s1`, [1], [-1], I64)]);
  const outShape = g.op('Concat', `${p}/Concat_1`, [lead, g.constant(`${p}/nf`, [1], [OUT], I64)], { axis: 0 });
  let y = g.op('Reshape', `${p}/Reshape_1`, [gemm, outShape]);
  const expected = Float64Array.from(W);
  if (withBranch) {
    const f = factors(g, 'c_attn', DataType.FLOAT);
    g.init('onnx::MatMul_90', [IN, R], transpose2(f.A, R, IN));
    g.init('onnx::MatMul_91', [R, OUT], transpose2(f.B, OUT, R));
    const h = g.op('MatMul', '/transformer/h.0/attn/c_attn/lora_B/default/MatMul', [g.op('MatMul', '/transformer/h.0/attn/c_attn/lora_A/default/MatMul', ['x', 'onnx::MatMul_90']), 'onnx::MatMul_91']);
    y = g.op('Add', '/transformer/h.0/attn/c_attn/Add', [y, g.op('Mul', '/transformer/h.0/attn/c_attn/Mul', [h, g.constant('scaling', [], [s])])]);
    f.delta(s).forEach((v, i) => (expected[i] += v)); // fan_in_fan_out: W is [in, out], ΔW is added transposed
  }
  y = g.op('Relu', 'act', [y]);
  void bias;
  const bytes = g.model([{ name: 'x', dims: [...LEAD, IN] }], [{ name: y }]);
  return { unmerged: bytes, base: bytes, y, weight: { name: 'transformer.h.0.attn.c_attn.base_layer.weight', expected }, dtype: DataType.FLOAT };
}

test('GPT-2 Conv1D (fan_in_fan_out), TorchScript: Reshape from Shape arithmetic → Gemm → Reshape back, branch on the unflattened x, folds', async () => {
  await checkFold({ ...buildConv1dTorchScript(true), base: buildConv1dTorchScript(false).base }, { rank: 2, scale: 2, base: 'Gemm', modules: ['transformer.h.0.attn.c_attn'] });
});

test('GPT-2 Conv1D with a dynamic batch dim: reported, refused naming the Reshape it cannot prove', () => {
  const b = buildConv1dTorchScript(true);
  const model = onnx.ModelProto.decode(b.unmerged);
  model.graph!.input![0].type!.tensor_type!.shape!.dim![0] = { dim_param: 'batch' };
  const { candidates } = scanAndFuse(encodeModel(model));
  const lora = loraCandidates(candidates);
  assert.equal(lora.length, 1, 'still reported as a LoRA branch');
  assert.match(lora[0].blocked ?? '', /the shape of 'x' is not static, so ModelFuse cannot prove that Reshape '\/transformer\/h.0\/attn\/c_attn\/base_layer\/Reshape' only flattens its leading dims/);
});

/** The dynamo exporter's form: weights `val_N`, constant views, Linear as view → MatMul(Transpose(W)) → view, name_scopes metadata. */
function buildConv1dDynamo(withBranch: boolean, s = 2): Built {
  const g = new GraphSpec();
  const W = g.weight('val_0', [IN, OUT]);
  g.weight('val_1', [OUT]);
  const scopes: Record<string, string> = {};
  const scoped = (name: string, path: string): string => ((scopes[name] = path), name);
  const layer = "'', 'base_model', 'base_model.model', 'base_model.model.transformer', 'base_model.model.transformer.h.0', 'base_model.model.transformer.h.0.attn', 'base_model.model.transformer.h.0.attn.c_attn'";
  const view = (name: string, input: string, dims: number[], path: string): string =>
    g.op('Reshape', scoped(name, path), [input, g.constant(`${name}_shape`, [dims.length], dims, I64)]);
  const baseScope = `[${layer}, 'base_model.model.transformer.h.0.attn.c_attn.base_layer', 'addmm']`;
  const flat = view('node_view', 'x', [-1, IN], baseScope);
  const gemm = g.op('Gemm', scoped('node_addmm', baseScope), [flat, 'val_0', 'val_1']);
  let y = view('node_view_1', gemm, [...LEAD, OUT], baseScope);
  const expected = Float64Array.from(W);
  if (withBranch) {
    const f = factors(g, 'c_attn', DataType.FLOAT);
    g.init('val_2', [R, IN], f.A); // PyTorch layout; the graph transposes
    g.init('val_3', [OUT, R], f.B);
    const linear = (name: string, input: string, weight: string, inF: number, outF: number): string => {
      const sc = `[${layer}, 'base_model.model.transformer.h.0.attn.c_attn.${name}', 'base_model.model.transformer.h.0.attn.c_attn.${name}.default', 'linear']`;
      const t = g.op('Transpose', scoped(`node_t_${name}`, sc), [weight], { perm: [1, 0] });
      const mm = g.op('MatMul', scoped(`node_mm_${name}`, sc), [view(`node_view_${name}`, input, [-1, inF], sc), t]);
      return view(`node_view_out_${name}`, mm, [...LEAD, outF], sc);
    };
    const h = linear('lora_B', linear('lora_A', 'x', 'val_2', IN, R), 'val_3', R, OUT);
    const addScope = `[${layer}, 'mul']`;
    y = g.op('Add', scoped('node_add', `[${layer}, 'add']`), [y, g.op('Mul', scoped('node_mul', addScope), [h, g.constant('val_4', [], [s])])]);
    f.delta(s).forEach((v, i) => (expected[i] += v));
  }
  y = g.op('Relu', 'node_relu', [y]);
  const model = onnx.ModelProto.decode(g.model([{ name: 'x', dims: [...LEAD, IN] }], [{ name: y }]));
  for (const n of model.graph!.node!) {
    const sc = scopes[n.name ?? ''];
    if (sc) n.metadata_props = makeMetadata({ 'pkg.torch.onnx.name_scopes': sc });
  }
  const bytes = encodeModel(model);
  return { unmerged: bytes, base: bytes, y, weight: { name: 'val_0', expected }, dtype: DataType.FLOAT };
}

test('GPT-2 Conv1D, dynamo export (val_N weights, name_scopes only, view/mm/view Linears) folds, the module named from name_scopes', async () => {
  await checkFold({ ...buildConv1dDynamo(true), base: buildConv1dDynamo(false).base }, { rank: 2, scale: 2, base: 'Gemm', modules: ['transformer.h.0.attn.c_attn'] });
});

/**
 * PEFT's DoraLinearLayer as TorchScript writes it when the sizes come from
 * tensors: x_eye = eye(n) from ConstantOfShape(Concat(n, n)) + EyeLike with n
 * gathered from Shape(A); the norm's view(1, -1) from Shape arithmetic; the
 * magnitude expanded to the norm's shape.
 */
function buildDoraShapeArithmetic(withBranch: boolean, s = 2): Built & { biasName: string } {
  const g = new GraphSpec();
  const W = g.weight('onnx::MatMul_7', [IN, OUT]);
  const bias = g.weight('fc.base_layer.bias', [OUT]);
  const mm = g.op('MatMul', 'fc/base_layer/MatMul', ['x', 'onnx::MatMul_7']);
  let y = g.op('Add', 'fc/base_layer/Add', ['fc.base_layer.bias', mm]);
  let expected = Float64Array.from(W);
  if (withBranch) {
    const f = factors(g, 'fc', DataType.FLOAT);
    const At = g.init('onnx::MatMul_8', [IN, R], transpose2(f.A, R, IN));
    const Bt = g.init('onnx::MatMul_9', [R, OUT], transpose2(f.B, OUT, R));
    const magnitude = g.init('fc.lora_magnitude_vector.default.weight', [OUT], randn(OUT, 5).map((v) => Math.fround(1 + 0.2 * Math.abs(v))));
    const magValues = g.initializers.at(-1)!.values as Float64Array;
    // n = A.shape[0] of Aᵀ [in, r] → eye(n)
    const n = g.op('Unsqueeze', 'dora/n', [g.op('Gather', 'dora/gather_n', [g.op('Shape', 'dora/shapeA', [At]), g.constant('zero', [], [0], I64)]), g.constant('ax0', [1], [0], I64)]);
    const zeros = g.op('ConstantOfShape', 'dora/zeros', [g.op('Concat', 'dora/nn', [n, n], { axis: 0 })]);
    const eye = g.op('EyeLike', 'dora/eye', [zeros]);
    const lw = g.op('Transpose', 'dora/lwT', [g.op('MatMul', 'dora/eyeB', [g.op('MatMul', 'dora/eyeA', [eye, At]), Bt])], { perm: [1, 0] });
    const wT = g.op('Transpose', 'dora/wT', ['onnx::MatMul_7'], { perm: [1, 0] });
    const norm = g.op('ReduceL2', 'dora/norm', [g.op('Add', 'dora/sum', [wT, g.op('Mul', 'dora/scaled', [lw, g.constant('dora/s', [], [s])])])], { axes: [1], keepdims: 0 });
    const mag = g.op('Expand', 'dora/expand', [magnitude, g.op('Shape', 'dora/shapeNorm', [norm])]);
    const ratio = g.op('Div', 'dora/ratio', [mag, norm]);
    const viewShape = g.op('Concat', 'dora/viewShape', [g.constant('one_i', [1], [1], I64), g.op('Slice', 'dora/lastdim', [g.op('Shape', 'dora/shapeRatio', [ratio]), g.constant('m1', [1], [-1], I64), g.constant('big', [1], [1e9], I64)])], { axis: 0 });
    const mns = g.op('Reshape', 'dora/view', [ratio, viewShape]);
    const rescaled = g.op('Mul', 'fc/Mul', [g.op('Sub', 'dora/minus1', [mns, g.constant('one', [], [1])]), g.op('Sub', 'fc/Sub', [y, 'fc.base_layer.bias'])]);
    let lora = g.op('MatMul', 'fc/lora_B/MatMul', [g.op('MatMul', 'fc/lora_A/MatMul', ['x', At]), Bt]);
    lora = g.op('Mul', 'fc/Mul_2', [g.op('Mul', 'fc/Mul_1', [mns, lora]), g.constant('fc/scaling', [], [s])]);
    y = g.op('Add', 'fc/Add_1', [y, g.op('Add', 'fc/Add', [rescaled, lora])]);
    // W' = (m/‖W + sΔW‖) ⊙ (W + sΔW) per output feature, the norm over the input axis
    const combined = Float64Array.from(W).map((v, k) => v + f.delta(s)[k]);
    const norms = Array.from({ length: OUT }, (_, o) => Math.hypot(...Array.from({ length: IN }, (_, i) => combined[i * OUT + o])));
    expected = combined.map((v, k) => (v * magValues[k % OUT]) / norms[k % OUT]);
  }
  y = g.op('Relu', 'act', [y]);
  void bias;
  const bytes = g.model([{ name: 'x', dims: [...LEAD, IN] }], [{ name: y }]);
  return { unmerged: bytes, base: bytes, y, weight: { name: 'onnx::MatMul_7', expected }, dtype: DataType.FLOAT, biasName: 'fc.base_layer.bias' };
}

test('DoRA whose normalisation is built from Shape/Gather/Unsqueeze/Concat/ConstantOfShape/EyeLike/Expand/Slice folds', async () => {
  const b = buildDoraShapeArithmetic(true);
  const fused = await checkFold({ ...b, base: buildDoraShapeArithmetic(false).base }, { dora: true, rank: 2 });
  for (const op of ['ConstantOfShape', 'Shape', 'Expand', 'EyeLike']) assert.ok(!fused.model.graph.node.some((n) => n.op_type === op), `${op} gone`);
});

/** lora_bias: B has a bias, scaled with the branch and folded into the base bias. */
function buildLoraBias(form: 'matmul' | 'gemm' | 'no-base-bias', withBranch: boolean, s = 2): Built {
  const g = new GraphSpec();
  const gemm = form === 'gemm';
  const W = g.weight('base.weight', gemm ? [OUT, IN] : [IN, OUT]);
  const b0 = form === 'no-base-bias' ? new Float64Array(OUT) : g.weight('base.bias', [OUT]);
  let y = gemm
    ? g.op('Gemm', 'base/Gemm', ['x2', 'base.weight', 'base.bias'], { transB: 1 })
    : g.op('MatMul', 'base/MatMul', ['x', 'base.weight']);
  if (form === 'matmul') y = g.op('Add', 'base/Add', [y, 'base.bias']);
  const expected = Float64Array.from(W);
  const expectedBias = Float64Array.from(b0);
  if (withBranch) {
    const f = factors(g, 'lb', DataType.FLOAT);
    const bb = g.weight('lora_B.bias', [OUT]);
    let h: string;
    if (gemm) {
      g.init('lora_A.weight', [R, IN], f.A);
      g.init('lora_B.weight', [OUT, R], f.B);
      h = g.op('Gemm', 'lora_B/Gemm', [g.op('Gemm', 'lora_A/Gemm', ['x2', 'lora_A.weight'], { transB: 1 }), 'lora_B.weight', 'lora_B.bias'], { transB: 1 });
    } else {
      g.init('lora_A.T', [IN, R], transpose2(f.A, R, IN));
      g.init('lora_B.T', [R, OUT], transpose2(f.B, OUT, R));
      h = g.op('Add', 'lora_B/Add', ['lora_B.bias', g.op('MatMul', 'lora_B/MatMul', [g.op('MatMul', 'lora_A/MatMul', ['x', 'lora_A.T']), 'lora_B.T'])]);
    }
    y = g.op('Add', 'add', [y, g.op('Mul', 'mul', [h, g.constant('scaling', [], [s])])]);
    const d = f.delta(s);
    for (let i = 0; i < IN; i++) for (let o = 0; o < OUT; o++) expected[gemm ? o * IN + i : i * OUT + o] += d[i * OUT + o];
    bb.forEach((v, o) => (expectedBias[o] += s * v));
  }
  y = g.op('Relu', 'act', [y]);
  const inputs = gemm ? [{ name: 'x2', dims: [LEAD[0] * LEAD[1], IN] }] : [{ name: 'x', dims: [...LEAD, IN] }];
  if (gemm) {
    // checkFold feeds `x` [2, 3, in]: flatten it in the graph for the Gemm form
    const spec = g.model(inputs, [{ name: y }]);
    const m = onnx.ModelProto.decode(spec);
    m.graph!.input = [makeValueInfo('x', DataType.FLOAT, [...LEAD, IN])];
    m.graph!.node!.unshift(makeNode('Flatten', ['x'], ['x2'], 'flatten', { axis: 2 }));
    const bytes = encodeModel(m);
    return { unmerged: bytes, base: bytes, y, weight: { name: 'base.weight', expected }, bias: { name: 'base.bias', expected: expectedBias }, dtype: DataType.FLOAT };
  }
  const bytes = g.model(inputs, [{ name: y }]);
  return { unmerged: bytes, base: bytes, y, weight: { name: 'base.weight', expected }, bias: { name: 'base.bias', expected: expectedBias }, dtype: DataType.FLOAT };
}

test('lora_bias as MatMul + Add folds into the base bias Add', async () => {
  await checkFold({ ...buildLoraBias('matmul', true), base: buildLoraBias('matmul', false).base }, { rank: 2, scale: 2 });
});

test("lora_bias as the B Gemm's C folds into the base Gemm's C", async () => {
  await checkFold({ ...buildLoraBias('gemm', true), base: buildLoraBias('gemm', false).base }, { rank: 2, scale: 2 });
});

test('lora_bias on a MatMul base without a bias is refused with the reason', () => {
  const b = buildLoraBias('no-base-bias', true);
  const { candidates, report } = scanAndFuse(b.unmerged);
  const [c] = loraCandidates(candidates);
  assert.match(c.blocked ?? '', /the branch adds a bias \('lora_B.bias', lora_bias\) but the base MatMul 'base\/MatMul' has no bias to fold it into/);
  assert.equal(report.applied.length, 0);
});
