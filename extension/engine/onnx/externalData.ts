/**
 * External tensor data (`data_location: EXTERNAL`): a tensor's bytes live in a
 * file beside the model, at `offset`/`length`. They are read lazily, one
 * tensor at a time, only when a fold, merge or statistic needs them.
 *
 * A model file is untrusted input: a `location` that is absolute, or that
 * resolves outside the model's folder (`../../secret`, a symlink out), is
 * refused, so opening a model can never make the tool read `/etc/passwd`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../errors';
import type { FileRange } from '../io/fileRange';
import type { ITensorProto } from './proto';

export interface ExternalRef {
  location: string;
  offset: number;
  length: number | undefined;
}

/**
 * ONNX Runtime reads offset and length as plain decimal integers; `Number()`
 * would also take '0x40', '1e3' or ' 64 '. Anything but digits is NaN here,
 * which the checks below refuse, so ModelFuse never reads a model ORT reads
 * differently.
 */
function decimal(text: string | undefined): number {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
}

export function externalRef(t: ITensorProto): ExternalRef | undefined {
  if (t.data_location !== 1) return undefined;
  const entries = new Map((t.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location') ?? '';
  const offset = entries.has('offset') ? decimal(entries.get('offset')) : 0;
  const length = entries.has('length') ? decimal(entries.get('length')) : undefined;
  return { location, offset, length };
}

/** Opens and reads the external files of one model, confined to its folder. */
export class ExternalDataReader {
  private readonly fds = new Map<string, { fd: number; size: number }>();
  /** location → resolved real path: models reference one data file from hundreds of tensors. */
  private readonly resolved = new Map<string, string>();
  private readonly realDir: string;

  constructor(readonly modelPath: string) {
    this.realDir = fs.realpathSync(path.dirname(path.resolve(modelPath)));
  }

  /** Checks a tensor's reference without reading it: safe location, file present, range inside the file. */
  check(t: ITensorProto, expectedLength: number | undefined): void {
    const ref = externalRef(t)!;
    const name = t.name ?? '(unnamed)';
    const { size } = this.open(ref.location, name);
    if (!Number.isSafeInteger(ref.offset) || ref.offset < 0) {
      throw fileError(this.modelPath, `tensor '${name}': external data offset is not a non-negative decimal integer`);
    }
    const length = ref.length ?? (expectedLength ?? size - ref.offset);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw fileError(this.modelPath, `tensor '${name}': external data length is not valid`);
    }
    if (expectedLength !== undefined && length !== expectedLength) {
      throw fileError(this.modelPath, `tensor '${name}': external data length ${length} does not match its shape and type (${expectedLength} bytes)`);
    }
    if (ref.offset + length > size) {
      throw fileError(this.modelPath, `tensor '${name}': external file '${ref.location}' is too short (${size} bytes, tensor needs bytes ${ref.offset}..${ref.offset + length})`);
    }
  }

  /** Where one tensor's bytes are (checked, file open), without reading them: a save copies them from there. */
  range(t: ITensorProto, expectedLength: number | undefined): FileRange {
    this.check(t, expectedLength);
    const ref = externalRef(t)!;
    const { fd, size } = this.open(ref.location, t.name ?? '');
    return { fd, offset: ref.offset, length: ref.length ?? expectedLength ?? size - ref.offset, file: this.resolve(ref.location, t.name ?? '') };
  }

  /** Reads one tensor's bytes into a fresh buffer. */
  read(t: ITensorProto, expectedLength: number | undefined): Buffer {
    const { fd, offset, length } = this.range(t, expectedLength);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw fileError(this.modelPath, `external file '${externalRef(t)!.location}' ended early`);
      done += n;
    }
    return buf;
  }

  /** Resolves a location safely; exported for writers that copy external data. */
  resolve(location: string, tensorName: string): string {
    const known = this.resolved.get(location);
    if (known !== undefined) return known;
    if (!location) throw fileError(this.modelPath, `tensor '${tensorName}': external data has no location`);
    if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.includes('\0')) {
      throw fileError(this.modelPath, `tensor '${tensorName}': external data location '${location}' is absolute; only paths inside the model's folder are allowed`);
    }
    const joined = path.resolve(this.realDir, location);
    if (!isInside(this.realDir, joined)) {
      throw fileError(this.modelPath, `tensor '${tensorName}': external data location '${location}' points outside the model's folder`);
    }
    let real: string;
    try {
      real = fs.realpathSync(joined);
    } catch {
      throw fileError(this.modelPath, `tensor '${tensorName}': external data file '${location}' is missing`);
    }
    if (!isInside(this.realDir, real)) {
      throw fileError(this.modelPath, `tensor '${tensorName}': external data location '${location}' links outside the model's folder`);
    }
    this.resolved.set(location, real);
    return real;
  }

  private open(location: string, tensorName: string): { fd: number; size: number } {
    const real = this.resolve(location, tensorName);
    let entry = this.fds.get(real);
    if (!entry) {
      let fd: number;
      try {
        // O_NONBLOCK: a FIFO planted as the data file must not hang the open (it is then refused as not a file).
        fd = fs.openSync(real, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
      } catch (err) {
        throw fileError(this.modelPath, `tensor '${tensorName}': cannot open external data '${location}' (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      const st = fs.fstatSync(fd);
      if (!st.isFile()) {
        fs.closeSync(fd);
        throw fileError(this.modelPath, `tensor '${tensorName}': external data '${location}' is not a file`);
      }
      entry = { fd, size: st.size };
      this.fds.set(real, entry);
    }
    return entry;
  }

  close(): void {
    for (const { fd } of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
