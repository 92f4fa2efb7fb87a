/**
 * Linear LoRA models built the way exporters emit them, with the merged
 * weight computed independently (plain float64 loops) for the tests to
 * compare the fold against.
 */
import { DataType, GraphSpec, randn, refMatmul, transpose2, type Feed } from './helpers';

export interface Adapter {
  r: number;
  /** How the scale is written: Mul by s, Div by 1/s, or no node (s = 1). */
  scale: { op: 'Mul' | 'Div'; s: number } | null;
  /** Low-rank layers as MatMul by Aᵀ/Bᵀ (TorchScript) or Gemm by A/B with transB=1. */
  op?: 'MatMul' | 'Gemm';
}

export interface LinearCase {
  base: 'MatMul' | 'Gemm';
  bias?: boolean;
  /** Gemm base: weight stored [out, in] (transB=1, PyTorch's layout) or [in, out]. */
  transB?: boolean;
  gemmAlpha?: number;
  adapters: Adapter[];
  /** Sum the adapters first, Add(base, Add(b1, b2)), instead of chaining Add(Add(base, b1), b2). */
  sumFirst?: boolean;
  dtype?: number;
  inF?: number;
  outF?: number;
  /** Leading dims of x; Gemm needs exactly one. */
  lead?: number[];
  /** Extra noise on the path: Identity, Dropout, no-op Cast, a Transpose pair, a Reshape pair. */
  noise?: boolean;
}

export interface BuiltCase {
  bytes: Uint8Array;
  feeds: Record<string, Feed>;
  weightName: string;
  /** The merged weight in the base layout, float64, before rounding. */
  expected: Float64Array;
  baseNodeName: string;
}

export function buildLinearCase(c: LinearCase): BuiltCase {
  const dtype = c.dtype ?? DataType.FLOAT;
  const inF = c.inF ?? 8;
  const outF = c.outF ?? 6;
  const lead = c.lead ?? (c.base === 'Gemm' ? [5] : [2, 3]);
  const g = new GraphSpec(dtype);
  const transB = c.base === 'Gemm' && (c.transB ?? true);
  const wDims = transB ? [outF, inF] : [inF, outF];
  const W = g.weight('base.weight', wDims);
  let baseOut: string;
  if (c.base === 'MatMul') {
    baseOut = g.op('MatMul', 'base/MatMul', ['x', 'base.weight']);
    if (c.bias) {
      g.weight('base.bias', [outF]);
      baseOut = g.op('Add', 'base/Add', ['base.bias', baseOut]);
    }
  } else {
    if (c.bias) g.weight('base.bias', [outF]);
    baseOut = g.op('Gemm', 'base/Gemm', c.bias ? ['x', 'base.weight', 'base.bias'] : ['x', 'base.weight'], {
      transB: transB ? 1 : 0, ...(c.gemmAlpha !== undefined ? { alpha: { float: c.gemmAlpha } } : {}),
    });
  }

  // Expected merged weight in x·M orientation first.
  const delta = new Float64Array(inF * outF);
  const branchOutputs: string[] = [];
  c.adapters.forEach((ad, k) => {
    const op = ad.op ?? 'MatMul';
    const p = `lora${k}`;
    // A [r, in], B [out, r] as PEFT stores them; the graph holds Aᵀ/Bᵀ for MatMul, A/B with transB for Gemm.
    const aVals = g.weight(`${p}.A.tmp`, [ad.r, inF]);
    const bVals = g.weight(`${p}.B.tmp`, [outF, ad.r]);
    g.initializers.splice(g.initializers.length - 2, 2);
    const aName = `${p}.lora_A.weight`;
    const bName = `${p}.lora_B.weight`;
    if (op === 'MatMul') {
      g.init(aName, [inF, ad.r], transpose2(aVals, ad.r, inF));
      g.init(bName, [ad.r, outF], transpose2(bVals, outF, ad.r));
    } else {
      g.init(aName, [ad.r, inF], aVals);
      g.init(bName, [outF, ad.r], bVals);
    }
    let h = 'x';
    if (c.noise) {
      h = g.op('Identity', `${p}/dropout`, [h]);
      h = g.op('Cast', `${p}/cast_in`, [h], { to: dtype });
      h = g.op('Transpose', `${p}/t1`, [h], { perm: [1, 0, 2] });
    }
    h = op === 'MatMul' ? g.op('MatMul', `${p}/A`, [h, aName]) : g.op('Gemm', `${p}/A`, [h, aName], { transB: 1 });
    if (c.noise) {
      h = g.op('Transpose', `${p}/t2`, [h], { perm: [1, 0, 2] });
      const flat = g.constant(`${p}/flat_shape`, [2], [lead[0] * lead[1], ad.r], DataType.INT64);
      const back = g.constant(`${p}/back_shape`, [3], [...lead, ad.r], DataType.INT64);
      h = g.op('Reshape', `${p}/r1`, [h, flat]);
      h = g.op('Reshape', `${p}/r2`, [h, back]);
      h = g.op('Dropout', `${p}/dropout2`, [h]);
    }
    h = op === 'MatMul' ? g.op('MatMul', `${p}/B`, [h, bName]) : g.op('Gemm', `${p}/B`, [h, bName], { transB: 1 });
    if (c.noise) h = g.op('Cast', `${p}/cast_out`, [h], { to: dtype });
    let s = 1;
    if (ad.scale) {
      s = ad.scale.s;
      const v = ad.scale.op === 'Mul' ? s : 1 / s;
      const cst = g.constant(`${p}/scale`, [], [v]);
      h = g.op(ad.scale.op, `${p}/${ad.scale.op}`, [h, cst]);
      // the graph multiplies by exactly what the constant holds (rounded to the dtype)
      s = ad.scale.op === 'Mul' ? roundScalar(v, dtype) : 1 / roundScalar(v, dtype);
    }
    const prod = refMatmul(transpose2(aVals, ad.r, inF), transpose2(bVals, outF, ad.r), inF, ad.r, outF);
    for (let i = 0; i < delta.length; i++) delta[i] += s * prod[i];
    branchOutputs.push(h);
  });

  let out = baseOut;
  if (c.sumFirst) {
    let sum = branchOutputs[0];
    for (let k = 1; k < branchOutputs.length; k++) sum = g.op('Add', `sum${k}`, [sum, branchOutputs[k]]);
    out = g.op('Add', 'merge0', [out, sum]);
  } else {
    branchOutputs.forEach((b, k) => (out = g.op('Add', `merge${k}`, k % 2 ? [b, out] : [out, b])));
  }
  const y = g.op('Relu', 'head', [out]);
  const alpha = c.gemmAlpha ?? 1;
  const expected = new Float64Array(W.length);
  for (let i = 0; i < inF; i++) {
    for (let o = 0; o < outF; o++) {
      if (transB) expected[o * inF + i] = W[o * inF + i] + delta[i * outF + o] / alpha;
      else expected[i * outF + o] = W[i * outF + o] + delta[i * outF + o] / alpha;
    }
  }
  const xDims = [...lead, inF];
  const bytes = g.model([{ name: 'x', dims: xDims, dtype }], [{ name: y, dtype }]);
  return {
    bytes,
    feeds: { x: { dims: xDims, values: randn(xDims.reduce((a, b) => a * b, 1), 99), dtype } },
    weightName: 'base.weight',
    expected,
    baseNodeName: c.base === 'MatMul' ? 'base/MatMul' : 'base/Gemm',
  };
}

function roundScalar(v: number, dtype: number): number {
  return dtype === DataType.FLOAT ? Math.fround(v) : v;
}
