/**
 * Bytes that are still in a file: a tensor's payload a save can copy from the
 * input straight to the output without ever holding it whole. Copies go
 * through one recycled buffer, which is what `cp` does and what the disk
 * allows: no allocation per tensor (a fresh 32 MB buffer costs its page
 * faults before it holds anything), and memory stays at the buffer's size
 * however big the tensors are.
 */
import * as fs from 'node:fs';
import { fileError } from '../errors';

/**
 * An edit of bytes that were not read yet, applied to each piece as it passes
 * through: `chunk` holds the bytes at `at` (from the range's start). Pieces
 * start at multiples of 8 bytes, so they hold whole elements of any type.
 */
export type ChunkEdit = (chunk: Uint8Array, at: number) => void;

export interface FileRange {
  /** Open descriptor of the file the bytes are in. */
  fd: number;
  offset: number;
  length: number;
  /** The file, for messages. */
  file: string;
  /** Edits to apply, in order, on the way (a fold's scaling of an untouched weight). */
  edits?: readonly ChunkEdit[];
}

/** Big enough that a copy costs few system calls; small enough to stay out of the way of peak memory (a multiple of 8: see ChunkEdit). */
const COPY_BUFFER_BYTES = 4 * 2 ** 20;
let copyBuffer: Buffer | undefined;

/** Copies `range` to `fd` at `position`; returns the number of bytes written (range.length). */
export function copyRange(range: FileRange, fd: number, position: number): number {
  copyBuffer ??= Buffer.allocUnsafeSlow(COPY_BUFFER_BYTES);
  const buf = copyBuffer;
  let done = 0;
  while (done < range.length) {
    const want = Math.min(buf.length, range.length - done);
    let got = 0;
    while (got < want) {
      const n = fs.readSync(range.fd, buf, got, want - got, range.offset + done + got);
      if (n === 0) throw fileError(range.file, 'the file ended early (it changed on disk since it was opened)');
      got += n;
    }
    if (range.edits) for (const edit of range.edits) edit(buf.subarray(0, want), done);
    let put = 0;
    while (put < want) put += fs.writeSync(fd, buf, put, want - put, position + done + put);
    done += want;
  }
  return range.length;
}
