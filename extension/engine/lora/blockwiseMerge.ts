/**
 * A plain single-term LoRA merge, one block of rows at a time: row i of
 * W' = W + s·L·R needs row i of W and of L and all of R (k × n, small), so a
 * tensor streams from the base file to the output through a few blocks of a
 * few MB instead of being held whole — for Llama-7B's 11008 × 4096 MLP weights
 * that is 8 MB in flight per stage instead of 90 MB (issue 17: a 7B merge in
 * half a gigabyte).
 *
 * Each block is merged exactly as the whole tensor would be (the backend's
 * fused merge, or the JavaScript row kernel), so the result is the same; the
 * norms of the report are summed over the blocks. A NaN/overflow names its
 * index in the whole tensor.
 */
import { throwIfCancelled, type CancelToken } from '../errors';
import { mergeSingleByBackend, productNorm } from './backendMerge';
import type { BufferPool } from './bufferPool';
import { fusedMergeSingle, NonFiniteError } from './fusedMerge';
import type { FusedMergeRequest, MatmulBackend } from './matmulBackend';

/** Bytes of base rows merged per step. */
export const BLOCK_BYTES = 8 * 2 ** 20;

/** The fused merge's operands without the base: L [m, k] and R [k, n] unscaled, the stored tensor [m, n]. */
export type BlockwiseOperands = Pick<FusedMergeRequest, 'L' | 'R' | 'm' | 'k' | 'n' | 'scale'>;

export interface BlockwiseSource {
  /** Reads base rows [r0, r1) into `into` (exactly their bytes) and returns it. */
  readRows(r0: number, r1: number, into: Uint8Array): Promise<Uint8Array>;
  /** The base's norm and the delta's norm, once every block is merged. */
  done(baseNorm: number, deltaNorm: number): void;
}

/**
 * The merged tensor's bytes, block by block (each from `pool`; the consumer gives it back once
 * written). The next block is read while this one merges.
 */
export async function* mergeInRowBlocks(
  op: BlockwiseOperands,
  dtype: number,
  bytesPerValue: number,
  source: BlockwiseSource,
  backend: MatmulBackend,
  pool: BufferPool,
  cancel?: CancelToken,
  blockBytes = BLOCK_BYTES,
): AsyncGenerator<Uint8Array> {
  const { L, R, m, k, n, scale } = op;
  const rows = Math.max(1, Math.min(m, Math.floor(blockBytes / (n * bytesPerValue))));
  const read = (r0: number): Promise<Uint8Array> => {
    const r1 = Math.min(m, r0 + rows);
    const p = source.readRows(r0, r1, pool.take((r1 - r0) * n * bytesPerValue));
    p.catch(() => undefined); // awaited below; a failure surfaces there
    return p;
  };
  let baseSq = 0;
  let next = read(0);
  for (let r0 = 0; r0 < m; r0 += rows) {
    throwIfCancelled(cancel);
    const r1 = Math.min(m, r0 + rows);
    const raw = await next;
    if (r1 < m) next = read(r1);
    const Lrows = L.subarray(r0 * k, r1 * k);
    let merged;
    try {
      merged =
        (backend.mergeSingle ? await mergeSingleByBackend(backend, raw, dtype, Lrows, R, r1 - r0, k, n, scale, pool, false) : null) ??
        fusedMergeSingle(raw, dtype, Lrows, R, r1 - r0, k, n, scale);
    } catch (err) {
      // The block's index, as an index of the whole tensor.
      if (err instanceof NonFiniteError) throw new NonFiniteError(err.index + r0 * n, err.value, err.dtype);
      throw err;
    }
    if (merged.bytes !== raw) pool.give(raw);
    baseSq += merged.baseNorm ** 2;
    yield merged.bytes;
  }
  // ‖ΔW‖ once for the whole tensor (two k×k Gram matrices), not per block: R's Gram would be recomputed for each.
  source.done(Math.sqrt(baseSq), Math.abs(scale) * productNorm(L, R, m, k, n));
}
