/**
 * The B·A products of a merge, behind one small interface so the merge does
 * not care who multiplies: the blocked JavaScript kernel here (always
 * available, no native code), or onnxruntime's MLAS in the worker (see
 * `ortMatmul.ts`), which is much faster for big layers.
 *
 * Products are float32 like PyTorch's own `lora_B @ lora_A` (the JS kernel
 * sums each group of four rank terms in double before storing to float32);
 * scaling and the addition to the base weight happen afterwards in float64.
 */

export interface MatmulBackend {
  readonly name: string;
  /** Row-major [m,k]·[k,n] → [m,n]. */
  matmul(left: Float32Array, right: Float32Array, m: number, k: number, n: number): Promise<Float32Array>;
  /**
   * Optional: the whole merge of one plain term, W' = round(W + s·L·R), done by
   * the backend itself (e.g. one ONNX Runtime graph: decode, product, sum and
   * rounding without the values passing through JavaScript). Returns null for
   * a dtype it does not handle; the merge then takes the JavaScript path.
   * The caller checks the result for NaN/Inf and computes the norms.
   */
  mergeSingle?(request: FusedMergeRequest): Promise<FusedMergeOutput | null>;
  /** Releases sessions/threads; the backend is not used afterwards. */
  dispose(): Promise<void>;
}

export interface FusedMergeRequest {
  /** m·n little-endian values of `dtype`, as read from the file. */
  base: Uint8Array;
  dtype: number;
  /** [m, k] and [k, n], row-major, unscaled. */
  L: Float32Array;
  R: Float32Array;
  m: number;
  k: number;
  n: number;
  scale: number;
  /** Optional destination for the result (m·n values of `dtype`, offset 0); a backend that cannot write there ignores it. */
  out?: Uint8Array;
}

export interface FusedMergeOutput {
  /** W' in the base dtype, not yet checked for NaN/Inf. */
  bytes: Uint8Array;
  /**
   * Σ W² of the base as float32 sums over short chunks (≤ 256 values): `total` is their float64 sum (‖W‖²),
   * `largest` the largest chunk (NaN/Inf if any chunk is). Every |W[i]| ≤ √largest: the caller's overflow bound.
   */
  squares: { total: number; largest: number };
}

export type FusedMergeFn = (request: FusedMergeRequest) => Promise<FusedMergeOutput | null>;

/**
 * A LoRA product has a tiny inner dimension (the rank) and a huge output, so
 * the kernel streams each output row once and adds four rank-1 terms per pass
 * (four loads of `right`, one load/store of the output instead of four): the
 * output row stays in L1 and `right` ([rank, n]) in L2.
 */
export function matmulInto(out: Float32Array, left: Float32Array, right: Float32Array, m: number, k: number, n: number): void {
  if (left.length < m * k || right.length < k * n || out.length < m * n) throw new RangeError(`matmul: buffers too small for [${m},${k}]·[${k},${n}]`);
  out.fill(0, 0, m * n);
  for (let i = 0; i < m; i++) {
    const o = i * n;
    const l = i * k;
    let kk = 0;
    for (; kk + 4 <= k; kk += 4) {
      const a0 = left[l + kk];
      const a1 = left[l + kk + 1];
      const a2 = left[l + kk + 2];
      const a3 = left[l + kk + 3];
      const r0 = kk * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let j = 0; j < n; j++) {
        out[o + j] += a0 * right[r0 + j] + a1 * right[r1 + j] + a2 * right[r2 + j] + a3 * right[r3 + j];
      }
    }
    for (; kk < k; kk++) {
      const a = left[l + kk];
      const r = kk * n;
      for (let j = 0; j < n; j++) out[o + j] += a * right[r + j];
    }
  }
}

export class JsMatmulBackend implements MatmulBackend {
  readonly name = 'js';
  async matmul(left: Float32Array, right: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
    const out = new Float32Array(m * n);
    matmulInto(out, left, right, m, k, n);
    return out;
  }
  async dispose(): Promise<void> {}
}

/** Row-major transpose of an [rows, cols] matrix. */
export function transpose2d<T extends Float32Array | Float64Array>(src: T, rows: number, cols: number): T {
  const out = new (src.constructor as { new (n: number): T })(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j];
  return out;
}

/** Any float32 matmul service, e.g. `(a, b, m, k, n) => matmulInWorker(client, a, b, m, k, n)`. */
export type MatmulFn = (a: Float32Array, b: Float32Array, m: number, k: number, n: number) => Promise<Float32Array>;

/**
 * Products by ONNX Runtime's MLAS in the worker process. The engine does not
 * import the worker client (it stays free of process management): the caller
 * passes the request function. Tiny products stay in JS, where a round trip
 * to the worker would cost more than the arithmetic.
 */
export class WorkerMatmulBackend implements MatmulBackend {
  readonly name: string = 'onnxruntime';
  private readonly js = new JsMatmulBackend();
  constructor(private readonly request: MatmulFn, private readonly minWork = 1 << 20) {}
  async matmul(left: Float32Array, right: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
    if (m * k * n < this.minWork) return this.js.matmul(left, right, m, k, n);
    const c = await this.request(left, right, m, k, n);
    if (c.length !== m * n) throw new RangeError(`matmul service returned ${c.length} values for [${m},${n}]`);
    return c;
  }
  async dispose(): Promise<void> {}
}

/**
 * ONNX Runtime in the same process (the merge runs inside the worker): whole
 * single-term merges by `fused` (see workerProcess/ort/loraMergeGraph.ts), other
 * products (DoRA, several adapters on one tensor) by `matmul`. Nothing is
 * computed ahead: a run blocks this thread anyway, while file reads and
 * writes continue on libuv's threads.
 */
export class FusedMergeBackend extends WorkerMatmulBackend {
  override readonly name = 'onnxruntime-fused';
  constructor(request: MatmulFn, private readonly fused: FusedMergeFn, minWork?: number) {
    super(request, minWork);
  }
  mergeSingle(request: FusedMergeRequest): Promise<FusedMergeOutput | null> {
    return this.fused(request);
  }
}
