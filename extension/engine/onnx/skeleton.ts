/**
 * Reads an .onnx file without its large weights: the "skeleton" is the same
 * protobuf with the big `raw_data` payloads of the top-level initializers
 * left out (and the enclosing length prefixes rewritten), plus where each
 * left-out payload sits in the file. Decoding the skeleton gives the graph,
 * every tensor's name, type and dims; a payload is read from the file only
 * when something asks for that tensor's bytes (see lazyRawData.ts).
 *
 * Why: `scan`, the module tree and the parameter counts never look at weight
 * values, yet reading a 100 MB model whole costs the read itself and 100 MB
 * of memory. The skeleton of a ResNet-50 is a few hundred kB.
 *
 * Only the three levels that lead to the payloads are walked (ModelProto →
 * graph → initializer → raw_data); every other field is copied byte for byte
 * for protobufjs to decode as before. Anything unusual on that path (a
 * repeated graph field, a field with an unexpected wire type, a group, a
 * length past its parent's end, a truncated varint) makes `readSkeleton`
 * return null, and the caller reads and decodes the whole file as always, so
 * broken or hostile files meet exactly the checks and messages of a full load.
 */
import * as fs from 'node:fs';

/** Payloads at least this big are left in the file; smaller ones (BN statistics, shapes) stay in the skeleton. */
export const LAZY_PAYLOAD_MIN_BYTES = 64 * 1024;

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export interface LeftOutPayload {
  /** Position of the initializer among the graph's `initializer` entries. */
  initializer: number;
  /** Byte offset of the payload in the file. */
  offset: number;
  length: number;
}

export interface Skeleton {
  bytes: Buffer;
  payloads: LeftOutPayload[];
  /** Number of initializer entries the graph holds (checked against the decoded list). */
  initializers: number;
}

/** Signals a structure the skeleton reader does not handle; the caller falls back to a full read. */
class Unusual extends Error {}

/** Reads a file through a window, so walking thousands of small fields costs few system calls. */
class FileWindow {
  private readonly window = Buffer.allocUnsafe(16 * 1024);
  private start = 0;
  private end = 0;

  constructor(private readonly fd: number, readonly size: number) {}

  byte(pos: number): number {
    if (pos < this.start || pos >= this.end) this.fill(pos);
    return this.window[pos - this.start];
  }

  /** Bytes [from, to) of the file as a fresh buffer. */
  copy(from: number, to: number): Buffer {
    if (from >= this.start && to <= this.end) return Buffer.from(this.window.subarray(from - this.start, to - this.start));
    const out = Buffer.allocUnsafe(to - from);
    this.readInto(out, from);
    return out;
  }

  private fill(pos: number): void {
    const n = Math.min(this.window.length, this.size - pos);
    if (n <= 0) throw new Unusual('read past the end');
    this.readInto(this.window.subarray(0, n), pos);
    this.start = pos;
    this.end = pos + n;
  }

  private readInto(buf: Uint8Array, pos: number): void {
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, pos + done);
      if (n === 0) throw new Unusual('file ended early');
      done += n;
    }
  }
}

interface Field {
  number: number;
  wire: number;
  /** Where the field's tag starts, where its value starts and where the field ends. */
  start: number;
  valueStart: number;
  end: number;
}

function varint(w: FileWindow, pos: number, limit: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit) throw new Unusual('truncated varint');
    const b = w.byte(pos++);
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (!Number.isSafeInteger(value)) throw new Unusual('varint out of range');
      return { value, next: pos };
    }
    scale *= 128;
  }
  throw new Unusual('varint too long');
}

/** The fields of the message occupying [start, end). */
function* fields(w: FileWindow, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const tag = varint(w, pos, end);
    const number = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (number === 0) throw new Unusual('field number 0');
    let valueStart = tag.next;
    let fieldEnd: number;
    switch (wire) {
      case WIRE_VARINT: fieldEnd = varint(w, valueStart, end).next; break;
      case WIRE_I64: fieldEnd = valueStart + 8; break;
      case WIRE_I32: fieldEnd = valueStart + 4; break;
      case WIRE_LEN: {
        const len = varint(w, valueStart, end);
        valueStart = len.next;
        fieldEnd = valueStart + len.value;
        break;
      }
      default: throw new Unusual(`wire type ${wire}`);
    }
    if (fieldEnd > end) throw new Unusual('field runs past its message');
    yield { number, wire, start: pos, valueStart, end: fieldEnd };
    pos = fieldEnd;
  }
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A message rebuilt from pieces: verbatim ranges of the file and rebuilt sub-messages. */
class Pieces {
  readonly parts: Uint8Array[] = [];
  length = 0;
  add(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.length;
  }
  addMessage(field: number, inner: Pieces): void {
    this.add(Uint8Array.from([...varintBytes(field * 8 + WIRE_LEN), ...varintBytes(inner.length)]));
    for (const p of inner.parts) this.add(p);
  }
}

/**
 * The skeleton of the .onnx file open at `fd`, or null when the file does not
 * have the plain structure this reader handles (the caller then reads it whole).
 */
export function readSkeleton(fd: number, size: number, minPayloadBytes = LAZY_PAYLOAD_MIN_BYTES): Skeleton | null {
  const w = new FileWindow(fd, size);
  const payloads: LeftOutPayload[] = [];
  let initializers = 0;

  const tensor = (f: Field, index: number): Pieces => {
    const out = new Pieces();
    let rawSeen = false;
    for (const t of fields(w, f.valueStart, f.end)) {
      if (t.number === TENSOR_RAW_DATA) {
        if (t.wire !== WIRE_LEN || rawSeen) throw new Unusual('raw_data');
        rawSeen = true;
        const length = t.end - t.valueStart;
        if (length >= minPayloadBytes) {
          payloads.push({ initializer: index, offset: t.valueStart, length });
          continue;
        }
      }
      out.add(w.copy(t.start, t.end));
    }
    return out;
  };

  const graph = (f: Field): Pieces => {
    const out = new Pieces();
    for (const g of fields(w, f.valueStart, f.end)) {
      if (g.number === GRAPH_INITIALIZER) {
        if (g.wire !== WIRE_LEN) throw new Unusual('initializer');
        out.addMessage(GRAPH_INITIALIZER, tensor(g, initializers++));
      } else {
        out.add(w.copy(g.start, g.end));
      }
    }
    return out;
  };

  try {
    const model = new Pieces();
    let graphSeen = false;
    for (const f of fields(w, 0, size)) {
      if (f.number === MODEL_GRAPH) {
        // protobufjs keeps the last of repeated graph fields, the reference library merges them: leave that to a full read.
        if (f.wire !== WIRE_LEN || graphSeen) throw new Unusual('graph');
        graphSeen = true;
        model.addMessage(MODEL_GRAPH, graph(f));
      } else {
        model.add(w.copy(f.start, f.end));
      }
    }
    if (payloads.length === 0) return null; // nothing worth leaving out
    return { bytes: Buffer.concat(model.parts, model.length), payloads, initializers };
  } catch (err) {
    if (err instanceof Unusual) return null;
    throw err;
  }
}
