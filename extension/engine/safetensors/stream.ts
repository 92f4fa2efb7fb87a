/**
 * Streaming safetensors writer: the head (known from shapes alone) first,
 * then each tensor as an async producer yields it, written behind while the
 * next one is produced. The LoRA merge writes its output through it.
 */
import * as fs from 'node:fs';
import { ModelFuseError } from '../errors';
import { safetensorsByteLength, safetensorsHead, type SafetensorsDtype } from './safetensors';

/**
 * A tensor to write: produced as a whole (`bytes`), produced in consecutive pieces (`blocks`: a
 * merge that streams rows), or copied unchanged from another file's byte range in small chunks.
 */
export type StreamEntry = {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
} & ({ bytes: () => Promise<Uint8Array> } | { blocks: () => AsyncIterable<Uint8Array> } | { copy: RangeCopy });

/**
 * Bytes [begin, begin + length) of an open file, written as they are. A tensor nobody changes need
 * not be held whole: a 262 MB embedding passes through one 4 MiB buffer.
 */
export interface RangeCopy {
  fd: number;
  begin: number;
  /** For the message when the file ends early. */
  path: string;
  /** Called before the copy starts (a cancellation check). */
  before?: () => void;
}

const COPY_CHUNK = 4 * 2 ** 20;

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
  let chunk: Buffer | undefined;
  try {
    for (const e of entries) {
      const expected = safetensorsByteLength(e.dtype, e.shape);
      if ('copy' in e) {
        e.copy.before?.();
        await written();
        chunk ??= Buffer.allocUnsafe(COPY_CHUNK);
        await copyRange(e.copy, expected, fd, pos, chunk, e.name);
        pos += expected;
        continue;
      }
      if ('blocks' in e) {
        // Each piece is written behind while the next is produced, like whole tensors.
        let length = 0;
        for await (const b of e.blocks()) {
          length += b.length;
          if (length > expected) throw new RangeError(`tensor '${e.name}': more than ${expected} bytes`);
          await written();
          pending = writeAllAsync(fd, b, pos);
          inWrite = b;
          pos += b.length;
        }
        if (length !== expected) throw new RangeError(`tensor '${e.name}': ${length} bytes, expected ${expected}`);
        continue;
      }
      const b = await e.bytes();
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

async function copyRange(from: RangeCopy, length: number, fd: number, position: number, chunk: Buffer, name: string): Promise<void> {
  for (let done = 0; done < length; ) {
    const want = Math.min(chunk.length, length - done);
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(from.fd, chunk, 0, want, from.begin + done, (err, got) => (err ? reject(err) : resolve(got))),
    );
    if (n === 0) throw new ModelFuseError(`${from.path}: tensor '${name}' ends past the end of the file (file truncated?)`);
    await writeAllAsync(fd, chunk.subarray(0, n), position + done);
    done += n;
  }
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
