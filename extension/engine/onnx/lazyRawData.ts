/**
 * `raw_data` that is still in the model file (see skeleton.ts): the tensor's
 * `raw_data` property reads the payload on first access and from then on is
 * an ordinary field, so every reader of `t.raw_data` (folds, save, diffs)
 * works unchanged. Code that only needs the length (validation) asks
 * `lazyRawDataLength` and reads nothing.
 *
 * The file is read through the descriptor the model opened at load time.
 * A file replaced by rename (an atomic save, `--force` onto the input) keeps
 * the old bytes behind that descriptor; a file rewritten in place is caught
 * by comparing its size and modification time with those seen at load.
 */
import * as fs from 'node:fs';
import { fileError } from '../errors';
import type { ChunkEdit, FileRange } from '../io/fileRange';
import type { ITensorProto } from './proto';

export interface PayloadSource {
  path: string;
  /** Open descriptor of the model file, or -1 once the model is closed. */
  fd: number;
  size: number;
  mtimeMs: number;
}

interface Pending {
  source: PayloadSource;
  offset: number;
  length: number;
  /** Edits recorded instead of applied (deferLazyEdit): applied when the bytes are read or copied. */
  edits: ChunkEdit[];
}

const pending = new WeakMap<ITensorProto, Pending>();

/** Length of a payload not read yet, undefined for a tensor whose raw_data is in memory (or absent). */
export function lazyRawDataLength(t: ITensorProto): number | undefined {
  return pending.get(t)?.length;
}

/**
 * Where a payload not read yet sits in the model file, without reading it (a
 * save copies it from there to the output); undefined once it is in memory.
 */
export function lazyRawDataRange(t: ITensorProto): FileRange | undefined {
  const p = pending.get(t);
  if (!p) return undefined;
  checkUnchanged(p.source, t.name ?? '');
  return { fd: p.source.fd, offset: p.offset, length: p.length, file: p.source.path, ...(p.edits.length ? { edits: [...p.edits] } : {}) };
}

/**
 * Records an edit of a payload not read yet instead of reading it: a fold
 * that scales an untouched weight then costs nothing until the save, which
 * applies it piece by piece while copying (streamingEncode.ts), and memory
 * never holds the weight. A later read of `raw_data` gets the edited bytes.
 * Returns false (nothing recorded) for a tensor whose bytes are in memory.
 */
export function deferLazyEdit(t: ITensorProto, edit: ChunkEdit): boolean {
  const p = pending.get(t);
  if (!p) return false;
  p.edits.push(edit);
  return true;
}

/** Makes `t.raw_data` read `length` bytes at `offset` of the model file when first used. */
export function attachLazyRawData(t: ITensorProto, source: PayloadSource, offset: number, length: number): void {
  const entry: Pending = { source, offset, length, edits: [] };
  pending.set(t, entry);
  const settle = (value: Uint8Array | null | undefined): void => {
    pending.delete(t);
    Object.defineProperty(t, 'raw_data', { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(t, 'raw_data', {
    enumerable: true,
    configurable: true,
    get(): Uint8Array {
      const bytes = readPayload(source, offset, length, t.name ?? '');
      for (const edit of entry.edits) edit(bytes, 0);
      settle(bytes);
      return bytes;
    },
    set(value: Uint8Array | null | undefined) {
      settle(value);
    },
  });
}

function checkUnchanged(source: PayloadSource, name: string): void {
  if (source.fd < 0) throw new Error(`internal: tensor '${name}' read after its model was closed`);
  const st = fs.fstatSync(source.fd);
  if (st.size !== source.size || st.mtimeMs !== source.mtimeMs) {
    throw fileError(source.path, 'the file changed on disk since it was opened; open it again');
  }
}

function readPayload(source: PayloadSource, offset: number, length: number, name: string): Buffer {
  checkUnchanged(source, name);
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(source.fd, buf, done, length - done, offset + done);
    if (n === 0) throw fileError(source.path, 'the file ended early (it changed on disk since it was opened)');
    done += n;
  }
  return buf;
}
