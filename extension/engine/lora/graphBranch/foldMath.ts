/**
 * The numbers of a LoRA fold, in float64: the base weight with every branch
 * added, in the base weight's own layout, and (for DoRA) the bias. Rounding to
 * the base dtype happens once, when the caller writes the tensors.
 *
 *   MatMul  W [in, out]           W' = W ⊙ f + Σ s · Aᵀ·Bᵀ
 *   Gemm    W [in, out] / [out, in] (transB), alpha: the product divided by alpha
 *   Gather  E [num, dim]          E' = E ⊙ f + Σ s · Aᵀ[num, r]·Bᵀ[r, dim]
 *   Conv    W [out, in/g, k…]     W'[o,i,k] = W + Σ s · Σ_r B[o,r] · A[r,i,k]  (groups respected)
 *
 * f = 1 + Σ c per output feature is DoRA's rescaling of the base output; the
 * bias then changes by Σ c ⊙ (b − b₂), zero when b₂ is the bias itself.
 */
import { attrFloat, attrInt } from '../../graph/graphIndex';
import { matmulAccumulate, transpose, type NdArray } from './ndarray';
import { refuse } from '../../fusion/folds/foldContext';
import { factorInOut, outFeatures, type LoraContext, type LoraMatch } from './match';

export interface FoldedTensors {
  weight: NdArray;
  weightDtype: number;
  /** New bias values (one per output feature) when DoRA terms changed it, else null. */
  bias: { values: Float64Array; dtype: number } | null;
}

/** The match checked that the value is constant, not that it can be computed with (a STRING or BOOL tensor cannot): a refusal, not a defect. */
function mustEvaluate(ctx: LoraContext, value: string): { array: NdArray; dtype: number } {
  const r = ctx.consts.evaluate(value);
  if (!r.ok) refuse(`'${value}' cannot be folded: ${r.why}`);
  return r.value;
}

/** One value per output feature from a scalar or an [out] / [1, out] constant. */
function perFeature(ctx: LoraContext, value: string, out: number): Float64Array {
  const a = mustEvaluate(ctx, value).array.data;
  return a.length === 1 ? new Float64Array(out).fill(a[0]) : Float64Array.from(a);
}

export function computeFoldedWeights(ctx: LoraContext, m: LoraMatch): FoldedTensors {
  const w = mustEvaluate(ctx, m.weight);
  const out = outFeatures(m, w.array.dims);
  const weight = m.base === 'Conv' ? convWeight(ctx, m, w.array) : linearWeight(ctx, m, w.array, out);
  return { weight, weightDtype: w.dtype, bias: foldedBias(ctx, m, out) };
}

/** Σ sign·c per output feature over DoRA terms, plus one: the factor on the base weight. */
function baseFactor(ctx: LoraContext, m: LoraMatch, out: number): Float64Array {
  const f = new Float64Array(out).fill(1);
  for (const t of m.baseTerms) {
    const c = perFeature(ctx, t.factor, out);
    for (let o = 0; o < out; o++) f[o] += t.sign * c[o];
  }
  return f;
}

function linearWeight(ctx: LoraContext, m: LoraMatch, w: NdArray, out: number): NdArray {
  const gemmTransposed = m.base === 'Gemm' && attrInt(m.baseNode, 'transB', 0) === 1;
  const alpha = m.base === 'Gemm' ? attrFloat(m.baseNode, 'alpha', 1) : 1;
  const inF = gemmTransposed ? w.dims[1] : w.dims[0];
  // W ⊙ f (f = 1 without DoRA), in the base layout.
  const f = baseFactor(ctx, m, out);
  const result = w.data.slice();
  if (m.baseTerms.length > 0) {
    for (let i = 0; i < inF; i++) {
      for (let o = 0; o < out; o++) result[gemmTransposed ? o * inF + i : i * out + o] *= f[o];
    }
  }
  // + Σ over branches of Aᵀ·(Bᵀ ⊙ s·colScale), accumulated straight into the result; the per-output
  // factors go into the small [r, out] matrix, so the big [in, out] product is touched once.
  for (const b of m.branches) {
    const [fa, fb] = b.factors;
    const a = orient(mustEvaluate(ctx, fa.weight).array, fa.op, fa.transB); // [in, r]
    const bm = orient(mustEvaluate(ctx, fb.weight).array, fb.op, fb.transB); // [r, out]
    const r = a.dims[1];
    const col = new Float64Array(out).fill(b.scale / alpha);
    for (const c of b.columnScales) {
      const v = perFeature(ctx, c, out);
      for (let o = 0; o < out; o++) col[o] *= v[o];
    }
    const scaledB = new Float64Array(r * out);
    for (let p = 0; p < r; p++) for (let o = 0; o < out; o++) scaledB[p * out + o] = bm.data[p * out + o] * col[o];
    if (gemmTransposed) {
      // W is [out, in]: add (Aᵀ·B')ᵀ = B'ᵀ·A ([out, r]·[r, in]).
      matmulAccumulate(result, transpose({ dims: [r, out], data: scaledB }, [1, 0]).data, transpose(a, [1, 0]).data, out, r, inF);
    } else {
      matmulAccumulate(result, a.data, scaledB, inF, r, out);
    }
  }
  return { dims: [...w.dims], data: result };
}

/** A factor as the matrix M with `h · M` = what the node computes ([in, out]). */
function orient(a: NdArray, op: string, transB: boolean): NdArray {
  const io = factorInOut(op, transB, a.dims);
  if (!io) throw new Error(`internal: low-rank weight of shape [${a.dims.join(', ')}]`);
  return op === 'Gemm' && transB ? transpose(a, [1, 0]) : a;
}

function convWeight(ctx: LoraContext, m: LoraMatch, w: NdArray): NdArray {
  const result = w.data.slice();
  const out = w.dims[0];
  const inPerG = w.dims[1];
  const kernel = w.dims.slice(2).reduce((x, y) => x * y, 1);
  const g = attrInt(m.baseNode, 'group', 1);
  const outPerG = out / g;
  for (const b of m.branches) {
    const [fa, fb] = b.factors;
    const a = mustEvaluate(ctx, fa.weight).array; // [r, in/ga, k…]
    const bw = mustEvaluate(ctx, fb.weight).array; // [out, r/gb, 1…]
    const ga = attrInt(fa.node, 'group', 1);
    const gb = attrInt(fb.node, 'group', 1);
    const r = a.dims[0];
    const inPerA = a.dims[1];
    const rPerB = bw.dims[1];
    const outPerB = out / gb;
    const rPerA = r / ga;
    for (let o = 0; o < out; o++) {
      const baseStart = Math.floor(o / outPerG) * inPerG; // first input channel of o's base group
      const bGroup = Math.floor(o / outPerB);
      for (let rl = 0; rl < rPerB; rl++) {
        const rr = bGroup * rPerB + rl;
        const coeff = b.scale * bw.data[o * rPerB + rl];
        if (coeff === 0) continue;
        const inStart = Math.floor(rr / rPerA) * inPerA - baseStart; // where A's group lands inside o's base group
        for (let ia = 0; ia < inPerA; ia++) {
          const dst = (o * inPerG + inStart + ia) * kernel;
          const src = (rr * inPerA + ia) * kernel;
          for (let k = 0; k < kernel; k++) result[dst + k] += coeff * a.data[src + k];
        }
      }
    }
  }
  return { dims: [...w.dims], data: result };
}

/**
 * The bias after DoRA terms and lora_bias: base + Σ c ⊙ (base − b₂) has bias
 * b + Σ c ⊙ (b − b₂); each branch adds its own bias times the scale and
 * per-feature factors after it. Null when nothing changes it (no term reads
 * the biased output, or b₂ = b, and no branch has a bias).
 */
function foldedBias(ctx: LoraContext, m: LoraMatch, out: number): { values: Float64Array; dtype: number } | null {
  const terms = m.baseTerms.filter((t) => t.readsBiased);
  const branchBiases = m.branches.flatMap((b) => b.biasTerms);
  if (terms.length === 0 && branchBiases.length === 0) return null;
  const biasValue = biasValueOf(m);
  const b = biasValue ? perFeature(ctx, biasValue, out) : new Float64Array(out);
  // Gemm computes beta·C; a bias Add after the layer is added as it is.
  const beta = m.base === 'Gemm' && !m.biasAdd ? attrFloat(m.baseNode, 'beta', 1) : 1;
  const effective = b.map((v) => v * beta);
  const next = Float64Array.from(effective);
  let changed = false;
  for (const t of terms) {
    if (t.subtracted === biasValue) continue; // c ⊙ (b − b) = 0: DoRA's own form
    const c = perFeature(ctx, t.factor, out);
    const b2 = t.subtracted ? perFeature(ctx, t.subtracted, out) : new Float64Array(out);
    for (let o = 0; o < out; o++) {
      const d = t.sign * c[o] * (effective[o] - b2[o]);
      next[o] += d;
      if (d !== 0) changed = true;
    }
  }
  for (const t of branchBiases) {
    const v = perFeature(ctx, t.value, out);
    const col = new Float64Array(out).fill(t.scale);
    for (const c of t.columnScales) perFeature(ctx, c, out).forEach((f, o) => (col[o] *= f));
    for (let o = 0; o < out; o++) next[o] += col[o] * v[o];
    changed = true;
  }
  if (!changed) return null;
  const dtype = biasValue ? mustEvaluate(ctx, biasValue).dtype : mustEvaluate(ctx, m.weight).dtype;
  return { values: next.map((v) => v / beta), dtype };
}

/** The bias value of the base layer: the MatMul's bias Add constant, the Gemm's C, the Conv's B. */
export function biasValueOf(m: LoraMatch): string | null {
  if (m.biasAdd) {
    const raw = m.baseNode.output?.[0];
    return (m.biasAdd.input ?? []).find((v) => v !== raw) ?? null;
  }
  if (m.base === 'Gemm' || m.base === 'Conv') return m.baseNode.input?.[2] || null;
  return null;
}
