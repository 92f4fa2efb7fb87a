/**
 * Typed shortcuts over WorkerClient.request for the front ends: the CLI's
 * `verify`, `optimize`, `fuse --verify` and `lora --verify`, and the VS Code
 * commands. Each returns exactly what the worker computed.
 */
import type { OptimizeParams, OptimizeResult, VerifyParams, VerifyReport } from '../protocol/workerProtocol';
import type { RequestOptions, WorkerClient } from './client';

/** Everything `verify` takes besides the two models (all optional; defaults as the CLI's). */
export type VerifyOptions = Omit<VerifyParams, 'modelA' | 'modelB'>;

/**
 * Runs A (reference) and B (under test) on the same inputs in the worker and
 * compares every output; the object is the CLI's `verify --json` output, and
 * what `fuse --json` puts under "verification".
 */
export function verifyInWorker(
  client: WorkerClient,
  modelA: string,
  modelB: string,
  options: VerifyOptions = {},
  request: RequestOptions = {},
): Promise<VerifyReport> {
  return client.request('verify/run', { modelA, modelB, ...options }, request);
}

export function optimizeInWorker(client: WorkerClient, params: OptimizeParams, request: RequestOptions = {}): Promise<OptimizeResult> {
  return client.request('optimize/run', params, request);
}

/** C[m×n] = A[m×k]·B[k×n] in float32 by ONNX Runtime (for hosts; worker-side code calls ort/ortMatmul's matmulF32 directly). */
export async function matmulInWorker(
  client: WorkerClient,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  request: RequestOptions = {},
): Promise<Float32Array> {
  return (await client.request('matmul/run', { a, b, m, k, n }, request)).c;
}
