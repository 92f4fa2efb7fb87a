/**
 * Streaming safetensors writer: the head (known from shapes alone) first,
 * then each tensor as an async producer yields it, written behind while the
 * next one is produced. The LoRA merge writes its output through it.
 */
import * as fs from 'node:fs';
import { safetensorsByteLength, safetensorsHead, type SafetensorsDtype } from './safetensors';

export interface StreamEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: () => Promise<Uint8Array>;
}

/**
 * The async twin of safetensors.ts's `writeSafetensorsToFd` (same head,
 * `safetensorsHead`): tensors here come from an async producer (the
 * product may be computed by the onnxruntime worker), which a synchronous
 * `bytes()` callback cannot await.
 */
export async function writeSafetensorsStream(
  fd: number,
  entries: readonly StreamEntry[],
  metadata?: Record<string, string>,
  /** Called with each tensor's bytes once they are written (the caller may reuse them). */
  onWritten?: (bytes: Uint8Array) => void,
): Promise<number> {
  let pos = writeAll(fd, safetensorsHead(entries, metadata), 0);
  // Write-behind: tensor i is written (libuv thread) while tensor i+1 is produced.
  let pending: Promise<void> = Promise.resolve();
  let inWrite: Uint8Array | undefined;
  const written = async (): Promise<void> => {
    await pending;
    if (inWrite) onWritten?.(inWrite);
    inWrite = undefined;
  };
  try {
    for (const e of entries) {
      const b = await e.bytes();
      const expected = safetensorsByteLength(e.dtype, e.shape);
      if (b.length !== expected) throw new RangeError(`tensor '${e.name}': ${b.length} bytes, expected ${expected}`);
      await written();
      pending = writeAllAsync(fd, b, pos);
      inWrite = b;
      pos += b.length;
    }
    await written();
  } finally {
    await pending.catch(() => undefined);
  }
  return pos;
}

function writeAllAsync(fd: number, b: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void =>
      fs.write(fd, b, done, b.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done < b.length) step();
        else resolve();
      });
    step();
  });
}

/** Writes all of `b` at `position` (synchronously); returns its length. */
export function writeAll(fd: number, b: Uint8Array, position: number): number {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, position + done);
  return b.length;
}
