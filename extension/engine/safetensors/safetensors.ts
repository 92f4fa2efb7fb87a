/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {…} }`,
 * then the tensor bytes. Reading opens the file and parses only the header;
 * tensor bytes are read one at a time on request (a multi-GB base needs memory
 * for one tensor). Writing streams tensors one by one into a temporary file.
 * Every offset and length is checked: a hostile header cannot make us read
 * outside the file or allocate absurd buffers.
 */
import * as fs from 'node:fs';
import { fileError } from '../errors';
import { bytesToFloat64, DataType, float64ToBytes } from '../onnx/dtypes';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'U16' | 'U32' | 'U64' | 'F8_E4M3' | 'F8_E5M2';

const BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1,
};
const TO_ONNX: Record<string, number> = {
  F64: DataType.DOUBLE, F32: DataType.FLOAT, F16: DataType.FLOAT16, BF16: DataType.BFLOAT16, I64: DataType.INT64, I32: DataType.INT32,
  I16: DataType.INT16, I8: DataType.INT8, U8: DataType.UINT8, BOOL: DataType.BOOL, U16: DataType.UINT16, U32: DataType.UINT32, U64: DataType.UINT64,
  F8_E4M3: 17, F8_E5M2: 19,
};

export function safetensorsDtypeToOnnx(dtype: string): number {
  const t = TO_ONNX[dtype];
  if (t === undefined) throw new RangeError(`unsupported safetensors dtype ${dtype}`);
  return t;
}

export function onnxDtypeToSafetensors(dtype: number): SafetensorsDtype {
  for (const [k, v] of Object.entries(TO_ONNX)) if (v === dtype) return k as SafetensorsDtype;
  throw new RangeError(`ONNX dtype ${dtype} has no safetensors equivalent`);
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

/** Largest header we accept: real headers are kilobytes to a few megabytes. */
const MAX_HEADER = 100 * 2 ** 20;

/**
 * The format packs tensors back to back from the end of the header to the end of the file, and the
 * reference library (safetensors' `validate`) refuses anything else. Two tensors sharing bytes would
 * make a write to one change the other; a gap or trailing bytes hide data no tool shows.
 */
function checkPacked(path: string, entries: SafetensorsEntry[], dataStart: number, size: number): void {
  const byOffset = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  let expected = dataStart;
  let previous: SafetensorsEntry | undefined;
  for (const entry of byOffset) {
    if (entry.begin < expected && previous) {
      throw fileError(path, `tensors '${previous.name}' and '${entry.name}' overlap in the file (data_offsets)`);
    }
    if (entry.begin > expected) {
      const after = previous ? `after tensor '${previous.name}'` : 'after the header';
      throw fileError(path, `${entry.begin - expected} unused bytes ${after}, before tensor '${entry.name}' (the safetensors format packs tensors back to back; data_offsets are inconsistent)`);
    }
    expected = entry.end;
    previous = entry;
  }
  if (expected !== size) {
    throw fileError(path, `${size - expected} bytes after the last tensor's data that no tensor claims (the file has extra data, or data_offsets are inconsistent)`);
  }
}

export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();
  readonly metadata: Record<string, string>;
  private fd: number | undefined;

  private constructor(readonly path: string, fd: number, size: number) {
    this.fd = fd;
    const head = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, head, 0, 8, 0) !== 8) throw fileError(path, 'not a safetensors file (too short for a header)');
    const headerLen = Number(head.readBigUInt64LE(0));
    if (headerLen < 2 || headerLen > MAX_HEADER || 8 + headerLen > size) {
      throw fileError(path, `not a safetensors file (header length ${headerLen} does not fit a ${size}-byte file)`);
    }
    const json = Buffer.alloc(headerLen);
    fs.readSync(fd, json, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch {
      throw fileError(path, 'not a safetensors file (its header is not JSON)');
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw fileError(path, 'not a safetensors file (header is not an object)');
    const dataStart = 8 + headerLen;
    const meta = header.__metadata__;
    if (meta !== undefined && (!meta || typeof meta !== 'object' || Array.isArray(meta) || !Object.values(meta).every((v) => typeof v === 'string'))) {
      throw fileError(path, '__metadata__ must be an object of strings (as the safetensors format defines it)');
    }
    this.metadata = meta ? { ...(meta as Record<string, string>) } : {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dtype = String(e?.dtype);
      const size1 = BYTES[dtype];
      if (size1 === undefined) throw fileError(path, `tensor '${name}': unsupported dtype '${dtype}'`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fileError(path, `tensor '${name}': invalid shape`);
      const offs = e.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[1] < offs[0]) {
        throw fileError(path, `tensor '${name}': invalid data_offsets`);
      }
      const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
      const begin = dataStart + offs[0];
      const end = dataStart + offs[1];
      if (end > size) throw fileError(path, `tensor '${name}': data runs past the end of the file (file truncated?)`);
      if (end - begin !== count * size1) {
        throw fileError(path, `tensor '${name}': ${end - begin} bytes do not match ${dtype}[${(e.shape as number[]).join(', ')}]`);
      }
      this.entries.set(name, { name, dtype: dtype as SafetensorsDtype, shape: e.shape as number[], begin, end });
    }
    checkPacked(path, [...this.entries.values()], dataStart, size);
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch {
      throw fileError(path, 'file not found');
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw fileError(path, 'not a file');
      return new SafetensorsFile(path, fd, st.size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  get(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw fileError(this.path, `no tensor named '${name}'`);
    return e;
  }

  /** The raw little-endian bytes of one tensor, freshly read. */
  readBytes(name: string): Buffer {
    const e = this.get(name);
    if (this.fd === undefined) throw fileError(this.path, 'file is closed');
    const buf = Buffer.allocUnsafe(e.end - e.begin);
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, e.begin + done);
      if (n === 0) throw fileError(this.path, `tensor '${name}': file ended early`);
      done += n;
    }
    return buf;
  }

  /** One tensor's values as float64 (for arithmetic in double precision). */
  readFloat64(name: string): Float64Array {
    const e = this.get(name);
    const count = e.shape.reduce((a, b) => a * b, 1);
    return bytesToFloat64(this.readBytes(name), safetensorsDtypeToOnnx(e.dtype), count);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface SafetensorsWriteEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Produces the bytes when the writer reaches this tensor (so only one is in memory at a time). */
  bytes: () => Uint8Array;
}

/** Bytes one tensor occupies in a safetensors file. */
export function safetensorsByteLength(dtype: SafetensorsDtype, shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
}

/**
 * The file's head: the 8-byte length and the JSON header, padded with spaces
 * so tensor data stays 8-byte aligned, as the reference writer does. Computed
 * from names, dtypes and shapes alone, so no tensor is produced before it is written.
 */
export function safetensorsHead(entries: readonly { name: string; dtype: SafetensorsDtype; shape: number[] }[], metadata?: Record<string, string>): Buffer {
  // No prototype: a tensor named "__proto__" must be written as a key, not set the object's prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    const len = safetensorsByteLength(e.dtype, e.shape);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

/** Streams tensors into `fd` in the given order, one `bytes()` call at a time. */
export function writeSafetensorsToFd(fd: number, entries: readonly SafetensorsWriteEntry[], metadata?: Record<string, string>): number {
  let pos = writeAll(fd, safetensorsHead(entries, metadata), 0);
  for (const e of entries) {
    const b = e.bytes();
    const expected = safetensorsByteLength(e.dtype, e.shape);
    if (b.length !== expected) throw new RangeError(`tensor '${e.name}': ${b.length} bytes, expected ${expected}`);
    pos += writeAll(fd, b, pos);
  }
  return pos;
}

function writeAll(fd: number, b: Uint8Array, position: number): number {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, position + done);
  return b.length;
}

/** Convenience for small files (tests, verification inputs): float64 values rounded once to `dtype`. */
export function tensorEntry(name: string, dtype: SafetensorsDtype, shape: number[], values: ArrayLike<number>): SafetensorsWriteEntry {
  return { name, dtype, shape, bytes: () => float64ToBytes(values, safetensorsDtypeToOnnx(dtype)) };
}
