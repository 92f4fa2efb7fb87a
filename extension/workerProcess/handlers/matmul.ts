/**
 * `matmul/run`: C = A·B in float32 for callers outside the worker. Handlers that
 * run INSIDE the worker (the LoRA merge) should import `matmulF32` from
 * ../ort/matmul directly: no message, no copy.
 */
import { registerHandler } from '../registry';
import { matmulF32 } from '../ort/ortMatmul';

registerHandler('matmul/run', async ({ a, b, m, k, n }) => ({ c: await matmulF32(a, b, m, k, n) }));
