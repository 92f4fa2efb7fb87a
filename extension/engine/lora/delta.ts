/**
 * ΔW for one base tensor and writing the merged result, exactly as PEFT's
 * `merge_and_unload()` computes it:
 *
 * - Linear: ΔW = scale · B·A, [out, in]; stored transposed ([in, out]: ONNX
 *   MatMul, Gemm transB=0, fan_in_fan_out) it is computed directly as Aᵀ·Bᵀ.
 * - Conv: lora_A is a k×k conv [r, in, k…], lora_B a 1×1 conv [out, r, 1…]:
 *   ΔW[o, i, …] = Σ_r B[o, r] · A[r, i, …] (PEFT's conv of Aᵀ with B).
 * - Embedding: PEFT stores lora_embedding_A [r, num] and lora_embedding_B
 *   [dim, r]; ΔW = (B·A)ᵀ, [num, dim].
 * - DoRA: V = W + ΔW, W' = m · V / ‖V‖ with the norm per output row (per output
 *   channel for conv, over all other axes) — PEFT's `get_weight_norm`.
 * - LyCORIS (LoCon with Tucker, LoHa, LoKr, full diff): ΔW arrives dense
 *   (lycoris.ts), in PyTorch layout, and is added like a product.
 * - LyCORIS DoRA (`dora_scale`): V = W + scale·ΔW, f = s / (‖V‖ + eps) per
 *   output row or per input column as the scale's shape says, f' = w·(f − 1) + 1
 *   with w the user's weight (LyCORIS's multiplier), W' = V ⊙ f'.
 * - Several adapters: applied in the order given, each with scale = its user
 *   weight × --scale × its own alpha/r (PEFT's set_scale); without DoRA this is
 *   exactly W + Σ wᵢ·scaleᵢ·Bᵢ·Aᵢ.
 *
 * The products are float32; everything after is float64, and the result is
 * rounded once to the base dtype. Every merged value is checked: a NaN or an
 * overflow of the base dtype (e.g. float16 above 65504) stops the merge.
 */
import { DataType, dtypeName } from '../onnx/dtypes';
import { fusedMergeSingle, mergeWithProduct, NonFiniteError, OVERFLOW_LIMIT } from './fusedMerge';
import { decodeFloatTensor, float64ToBfloat16Bits, float64ToHalfBits } from './halfFloat';
import { transpose2d, type MatmulBackend } from './matmulBackend';
import { mergeSingleByBackend } from './backendMerge';
import type { BufferPool } from './bufferPool';
import type { DeltaKind } from './targetTypes';

export { NonFiniteError };

export interface LoraTerm {
  kind: DeltaKind;
  A: Float32Array;
  aShape: number[];
  B: Float32Array;
  bShape: number[];
  /** Effective factor: user weight × --scale × PEFT's alpha/r. */
  scale: number;
  /** DoRA magnitude, one value per output row/channel. */
  magnitude?: Float32Array;
  /** A LyCORIS ΔW, unscaled, in PyTorch layout (A and B are then empty). */
  dense?: Float64Array;
  /** LyCORIS DoRA: the dora_scale values, their axis, the eps added to the norm and the user's multiplier. */
  doraScale?: { values: Float32Array; axis: 'out' | 'in'; eps: number; multiplier: number };
}

/** A dense ΔW in the stored layout of the target: a transposed matrix is stored [in, out]. */
function storedDense(term: LoraTerm, shape: number[], transposed: boolean): Float64Array {
  const d = term.dense!;
  if (!transposed) return d;
  const [rows, cols] = [shape[1], shape[0]]; // PyTorch [out, in] = stored [in, out] read the other way
  const out = new Float64Array(d.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = d[i * cols + j];
  return out;
}

/** For each element of a stored tensor, the output row or input column it belongs to ([out, in, k…], or [in, out] when transposed). */
function featureOf(shape: number[], transposed: boolean, axis: 'out' | 'in'): { count: number; of: (i: number) => number } {
  if (transposed) {
    const outs = shape[1];
    return axis === 'out' ? { count: outs, of: (i) => i % outs } : { count: shape[0], of: (i) => Math.floor(i / outs) };
  }
  const kernel = shape.slice(2).reduce((a, b) => a * b, 1);
  const perOut = shape[1] * kernel;
  return axis === 'out' ? { count: shape[0], of: (i) => Math.floor(i / perOut) } : { count: shape[1], of: (i) => Math.floor(i / kernel) % shape[1] };
}

export interface MergedTensor {
  /** Little-endian bytes in the base dtype. */
  bytes: Uint8Array;
  /** ‖W‖ of the base tensor. */
  baseNorm: number;
  /** ‖ΔW‖ contributed by each term (in float64, before the final rounding). */
  deltaNorms: number[];
}

/** The product to add, as L[m,k]·R[k,n] in the stored layout of the target (unscaled). */
export function productOperands(term: LoraTerm, transposed: boolean): { L: Float32Array; R: Float32Array; m: number; k: number; n: number } {
  const shape = productShape(term.kind, term.aShape, term.bShape, transposed);
  const { k } = shape;
  if (shape.ba) return { L: term.B, R: term.A, m: shape.m, k, n: shape.n };
  return { L: transpose2d(term.A, k, shape.m), R: transpose2d(term.B, shape.n, k), m: shape.m, k, n: shape.n };
}

/**
 * The [m, k]·[k, n] of a term's product in the target's stored layout, from the factors' shapes alone
 * (nothing read): `ba` when it is B·A, else Aᵀ·Bᵀ.
 */
export function productShape(
  kind: DeltaKind,
  aShape: readonly number[],
  bShape: readonly number[],
  transposed: boolean,
): { m: number; k: number; n: number; ba: boolean } {
  const r = aShape[0];
  if (kind === 'conv') {
    if (bShape.slice(2).some((d) => d !== 1)) throw new RangeError(`conv lora_B must be 1×1, got [${bShape.join(', ')}]`);
    return { m: bShape[0], k: r, n: aShape.reduce((a, b) => a * b, 1) / r, ba: true };
  }
  // Linear [out,in] = B·A; embedding [num,dim] = (B·A)ᵀ = Aᵀ·Bᵀ. Transposed storage flips which one is needed.
  const wantBA = kind === 'embedding' ? transposed : !transposed;
  const m = bShape[0];
  const n = aShape[1];
  return wantBA ? { m, k: r, n, ba: true } : { m: n, k: r, n: m, ba: false };
}

/** The product B·A (or what stands for it) in the stored layout of the target, unscaled, float32. */
export async function loraProduct(term: LoraTerm, transposed: boolean, backend: MatmulBackend): Promise<Float32Array> {
  const { L, R, m, k, n } = productOperands(term, transposed);
  return backend.matmul(L, R, m, k, n);
}

/** Output rows of a stored tensor (for the DoRA norm): [rows, cols] with rows = output units unless transposed. */
function outputAxes(kind: DeltaKind, shape: number[], transposed: boolean): { outCount: number; outStride: number; inCount: number; inStride: number } {
  const total = shape.reduce((a, b) => a * b, 1);
  if (kind === 'conv' || !transposed) return { outCount: shape[0], outStride: total / shape[0], inCount: total / shape[0], inStride: 1 };
  return { outCount: shape[1], outStride: 1, inCount: shape[0], inStride: shape[1] };
}

/**
 * Merges `terms` into the base values and encodes the result in `dtype`.
 * `base` holds the exact base values (float32 for float32/16/bfloat16 bases).
 */
export async function mergeTerms(
  baseBytes: Uint8Array,
  shape: number[],
  dtype: number,
  transposed: boolean,
  terms: readonly LoraTerm[],
  backend: MatmulBackend,
  /** Products already requested (pipelining: the worker computes the next tensor's while this one merges). */
  prefetched?: readonly (Promise<Float32Array> | undefined)[],
  /** Recycled output buffers (streaming safetensors merge), for a backend that writes its result in place. */
  pool?: BufferPool,
): Promise<MergedTensor> {
  const count = shape.reduce((a, b) => a * b, 1);
  const product = (i: number): Promise<Float32Array> => prefetched?.[i] ?? loraProduct(terms[i], transposed, backend);
  if (terms.length === 1 && !terms[0].magnitude && !terms[0].dense && !terms[0].doraScale) {
    const t = terms[0];
    if (backend.name === 'js' && !prefetched?.[0]) {
      // In-process: fuse product, merge and rounding row by row (never materialises the product).
      const { L, R, m, k, n } = productOperands(t, transposed);
      const r = fusedMergeSingle(baseBytes, dtype, L, R, m, k, n, t.scale);
      return { bytes: r.bytes, baseNorm: r.baseNorm, deltaNorms: [r.deltaNorm] };
    }
    if (backend.mergeSingle && !prefetched?.[0]) {
      // The backend does the whole merge (ONNX Runtime in this process); null: not for this dtype.
      const { L, R, m, k, n } = productOperands(t, transposed);
      const r = await mergeSingleByBackend(backend, baseBytes, dtype, L, R, m, k, n, t.scale, pool);
      if (r) return { bytes: r.bytes, baseNorm: r.baseNorm, deltaNorms: [r.deltaNorm] };
    }
    const { m, n } = productOperands(t, transposed);
    const r = mergeWithProduct(baseBytes, dtype, await product(0), m, n, t.scale);
    return { bytes: r.bytes, baseNorm: r.baseNorm, deltaNorms: [r.deltaNorm] };
  }
  const base = decodeFloatTensor(baseBytes, dtype, count);
  const n = count;
  // General path: a float64 working copy, terms applied in order (DoRA needs the running weight).
  const cur = Float64Array.from(base);
  const baseNorm = norm(base);
  const deltaNorms: number[] = [];
  for (let ti = 0; ti < terms.length; ti++) {
    const t = terms[ti];
    const p: ArrayLike<number> = t.dense ? storedDense(t, shape, transposed) : await product(ti);
    if (t.doraScale) {
      deltaNorms.push(applyLycorisDora(cur, p, t, shape, transposed));
      continue;
    }
    if (!t.magnitude) {
      let dsq = 0;
      for (let i = 0; i < n; i++) {
        const d = t.scale * p[i];
        cur[i] += d;
        dsq += d * d;
      }
      deltaNorms.push(Math.sqrt(dsq));
      continue;
    }
    const { outCount, outStride, inCount, inStride } = outputAxes(t.kind, shape, transposed);
    if (t.magnitude.length !== outCount) throw new RangeError(`lora_magnitude_vector has ${t.magnitude.length} values for ${outCount} output rows`);
    let dsq = 0;
    for (let o = 0; o < outCount; o++) {
      let sq = 0;
      for (let i = 0, at = o * outStride; i < inCount; i++, at += inStride) {
        const v = cur[at] + t.scale * p[at];
        sq += v * v;
      }
      const factor = t.magnitude[o] / Math.sqrt(sq);
      for (let i = 0, at = o * outStride; i < inCount; i++, at += inStride) {
        const next = factor * (cur[at] + t.scale * p[at]);
        const d = next - cur[at];
        dsq += d * d;
        cur[at] = next;
      }
    }
    deltaNorms.push(Math.sqrt(dsq));
  }
  return { bytes: encodeChecked(cur, dtype), baseNorm, deltaNorms };
}

/** LyCORIS's apply_weight_decompose on V = cur + scale·p, in place; returns ‖ΔW‖ of the step. */
function applyLycorisDora(cur: Float64Array, p: ArrayLike<number>, t: LoraTerm, shape: number[], transposed: boolean): number {
  const { values, axis, eps, multiplier } = t.doraScale!;
  const feature = featureOf(shape, transposed, axis);
  if (values.length !== feature.count) throw new RangeError(`dora_scale has ${values.length} values for ${feature.count} ${axis === 'out' ? 'output' : 'input'} features`);
  const n = cur.length;
  const v = new Float64Array(n);
  const sq = new Float64Array(feature.count);
  for (let i = 0; i < n; i++) {
    v[i] = cur[i] + t.scale * p[i];
    sq[feature.of(i)] += v[i] * v[i];
  }
  const factor = Float64Array.from(sq, (s, g) => multiplier * (values[g] / (Math.sqrt(s) + eps) - 1) + 1);
  let dsq = 0;
  for (let i = 0; i < n; i++) {
    const next = v[i] * factor[feature.of(i)];
    dsq += (next - cur[i]) ** 2;
    cur[i] = next;
  }
  return Math.sqrt(dsq);
}

/** Final float64 values → bytes of `dtype`, rounding once, refusing NaN/overflow. */
export function encodeChecked(values: Float64Array | Float32Array, dtype: number): Uint8Array {
  const limit = OVERFLOW_LIMIT[dtype];
  if (limit === undefined) throw new RangeError(`cannot merge into ${dtypeName(dtype)} tensors`);
  const n = values.length;
  for (let i = 0; i < n; i++) if (!(Math.abs(values[i]) < limit)) throw new NonFiniteError(i, values[i], dtype);
  switch (dtype) {
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const words = new Uint16Array(n);
      const enc = dtype === DataType.FLOAT16 ? float64ToHalfBits : float64ToBfloat16Bits;
      for (let i = 0; i < n; i++) words[i] = enc(values[i]);
      return new Uint8Array(words.buffer);
    }
    case DataType.DOUBLE:
      return new Uint8Array(Float64Array.from(values).buffer);
    default:
      return new Uint8Array(Float32Array.from(values).buffer);
  }
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Bias of lora_bias adapters: b + Σ scaleᵢ · lora_B.biasᵢ. */
export function mergeBias(base: Float32Array | Float64Array, dtype: number, adds: readonly { bias: Float32Array; scale: number }[]): MergedTensor {
  const cur = Float64Array.from(base);
  const deltaNorms: number[] = [];
  for (const a of adds) {
    if (a.bias.length !== cur.length) throw new RangeError(`lora_B.bias has ${a.bias.length} values for a bias of ${cur.length}`);
    let dsq = 0;
    for (let i = 0; i < cur.length; i++) {
      const d = a.scale * a.bias[i];
      cur[i] += d;
      dsq += d * d;
    }
    deltaNorms.push(Math.sqrt(dsq));
  }
  return { bytes: encodeChecked(cur, dtype), baseNorm: norm(base), deltaNorms };
}
