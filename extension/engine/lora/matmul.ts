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
  /** Releases sessions/threads; the backend is not used afterwards. */
  dispose(): Promise<void>;
}

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
  readonly name = 'onnxruntime';
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
