/**
 * A minimal float64 n-d array for evaluating the small constant subgraphs an
 * exporter leaves around a LoRA branch (a transposed weight, a DoRA weight
 * norm). Float64 throughout so a folded weight is rounded once, at the end.
 */
export interface NdArray {
  dims: number[];
  data: Float64Array;
}

export function ndarray(dims: readonly number[], data: Float64Array): NdArray {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`${data.length} values do not fit shape [${dims.join(', ')}]`);
  return { dims: [...dims], data };
}

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** numpy-style broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Elementwise binary op with broadcasting. */
export function binary(a: NdArray, b: NdArray, op: (x: number, y: number) => number): NdArray {
  const dims = broadcastShapes(a.dims, b.dims);
  if (!dims) throw new RangeError(`shapes [${a.dims.join(', ')}] and [${b.dims.join(', ')}] do not broadcast`);
  const n = dims.reduce((x, y) => x * y, 1);
  const out = new Float64Array(n);
  if (sameDims(a.dims, dims) && sameDims(b.dims, dims)) {
    for (let i = 0; i < n; i++) out[i] = op(a.data[i], b.data[i]);
    return { dims, data: out };
  }
  const sa = broadcastStrides(a.dims, dims);
  const sb = broadcastStrides(b.dims, dims);
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < n; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < dims.length; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    out[i] = op(a.data[ia], b.data[ib]);
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return { dims, data: out };
}

function broadcastStrides(dims: readonly number[], target: readonly number[]): number[] {
  const own = stridesOf(dims);
  const off = target.length - dims.length;
  return target.map((_, i) => (i < off || dims[i - off] === 1 ? 0 : own[i - off]));
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function unary(a: NdArray, op: (x: number) => number): NdArray {
  return { dims: [...a.dims], data: a.data.map(op) };
}

export function transpose(a: NdArray, perm?: readonly number[]): NdArray {
  const p = perm ?? a.dims.map((_, i) => a.dims.length - 1 - i);
  if (p.length !== a.dims.length) throw new RangeError(`perm [${p.join(', ')}] does not fit rank ${a.dims.length}`);
  const dims = p.map((i) => a.dims[i]);
  const src = stridesOf(a.dims);
  const n = a.data.length;
  const out = new Float64Array(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dims.length; d++) s += idx[d] * src[p[d]];
    out[i] = a.data[s];
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return { dims, data: out };
}

/** [m,k] · [k,n] → [m,n], float64, i-k-j loop order (row-major friendly). */
export function matmul2d(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  return matmulAccumulate(new Float64Array(m * n), a, b, m, k, n);
}

/**
 * out[m,n] += [m,k] · [k,n], float64. Four rows of b per pass over a row of
 * out: LoRA's k (the rank) is small, so the cost is loading and storing out.
 */
export function matmulAccumulate(out: Float64Array, a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  for (let i = 0; i < m; i++) {
    const row = i * n;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const a0 = a[i * k + p];
      const a1 = a[i * k + p + 1];
      const a2 = a[i * k + p + 2];
      const a3 = a[i * k + p + 3];
      const b0 = p * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      for (let j = 0; j < n; j++) out[row + j] += a0 * b[b0 + j] + a1 * b[b1 + j] + a2 * b[b2 + j] + a3 * b[b3 + j];
    }
    for (; p < k; p++) {
      const av = a[i * k + p];
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] += av * b[brow + j];
    }
  }
  return out;
}

/** ONNX MatMul semantics for constants: 2-D (or batched with equal batch dims) only. */
export function matmul(a: NdArray, b: NdArray): NdArray {
  if (a.dims.length === 2 && b.dims.length === 2) {
    const [m, k] = a.dims;
    const [k2, n] = b.dims;
    if (k !== k2) throw new RangeError(`MatMul of [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
    return { dims: [m, n], data: matmul2d(a.data, b.data, m, k, n) };
  }
  throw new RangeError(`constant MatMul of rank ${a.dims.length} and ${b.dims.length} is not supported`);
}

/** Sum (or another reduction) over `axes`, numpy keepdims semantics. */
export function reduce(a: NdArray, axes: readonly number[], keepdims: boolean, init: number, step: (acc: number, x: number) => number): NdArray {
  const rank = a.dims.length;
  const ax = new Set(axes.map((x) => (x < 0 ? x + rank : x)));
  const keptDims = a.dims.map((d, i) => (ax.has(i) ? 1 : d));
  const out = new Float64Array(keptDims.reduce((x, y) => x * y, 1)).fill(init);
  const outStrides = stridesOf(keptDims);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < a.data.length; i++) {
    let o = 0;
    for (let d = 0; d < rank; d++) if (!ax.has(d)) o += idx[d] * outStrides[d];
    out[o] = step(out[o], a.data[i]);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < a.dims[d]) break;
      idx[d] = 0;
    }
  }
  const dims = keepdims ? keptDims : a.dims.filter((_, i) => !ax.has(i));
  return { dims, data: out };
}

/** ONNX Reshape target (0 copies the input dim unless allowzero, one -1 is inferred). */
export function resolveReshape(input: readonly number[], target: readonly number[], allowzero = false): number[] | undefined {
  const out = target.map((d, i) => (d === 0 && !allowzero ? input[i] : d));
  if (out.some((d) => d === undefined)) return undefined;
  const total = input.reduce((x, y) => x * y, 1);
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1 || out.some((d) => d < -1)) return undefined;
  const known = out.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
  if (unknown === 1) {
    if (known === 0 || total % known !== 0) return undefined;
    return out.map((d) => (d === -1 ? total / known : d));
  }
  return known === total ? out : undefined;
}
