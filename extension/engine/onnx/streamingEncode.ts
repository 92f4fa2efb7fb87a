/**
 * Encodes a ModelProto straight to a file without building the whole message
 * in memory. protobufjs would grow one buffer to the model's full size and
 * copy it again; here the small parts (graph nodes, tensor headers) are
 * encoded by protobufjs and the large `raw_data` payloads are written from
 * their existing views, or, for payloads an on-demand load left in the model
 * file, copied from the input file through one recycled buffer (never read
 * whole: an untouched weight costs what `cp` costs). Fields are emitted in field-number order, the same
 * bytes protobufjs (and the reference protobuf library) produce, so an
 * unmodified model is written back byte-identical.
 */
import * as fs from 'node:fs';
import * as protobuf from 'protobufjs/minimal';
import { onnx, type ITensorProto } from './proto';
import { lazyRawDataRange } from './lazyRawData';
import { copyRange, type FileRange } from '../io/fileRange';

/** Field numbers of the messages we split (from onnx.proto). */
const MODEL_GRAPH_FIELD = 7;
const GRAPH_INITIALIZER_FIELD = 5;
const TENSOR_RAW_DATA_FIELD = 9;

const MODEL_FIELDS: Record<string, number> = {
  ir_version: 1, producer_name: 2, producer_version: 3, domain: 4, model_version: 5, doc_string: 6, graph: 7,
  opset_import: 8, metadata_props: 14, training_info: 20, functions: 25, configuration: 26,
};
const GRAPH_FIELDS: Record<string, number> = {
  node: 1, name: 2, initializer: 5, doc_string: 10, input: 11, output: 12, value_info: 13,
  quantization_annotation: 14, sparse_initializer: 15, metadata_props: 16,
};
const TENSOR_FIELDS: Record<string, number> = {
  dims: 1, data_type: 2, segment: 3, float_data: 4, int32_data: 5, string_data: 6, int64_data: 7, name: 8,
  raw_data: 9, double_data: 10, uint64_data: 11, doc_string: 12, external_data: 13, data_location: 14, metadata_props: 16,
};

/** Own (present) fields of a message whose number is below / above `field`. */
function pick<T extends object>(msg: T, fields: Record<string, number>, keep: (n: number) => boolean): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, n] of Object.entries(fields)) {
    if (keep(n) && Object.prototype.hasOwnProperty.call(msg, key)) out[key] = (msg as Record<string, unknown>)[key];
  }
  return out as Partial<T>;
}

function lengthDelimitedHeader(field: number, length: number): Uint8Array {
  return protobuf.Writer.create().uint32((field << 3) | 2).uint32(length).finish();
}

/** One initializer: encoded head and tail around an optional raw_data payload, in memory or still in the input file. */
interface TensorParts {
  head: Uint8Array;
  raw: Uint8Array | FileRange | undefined;
  rawHeader: Uint8Array | undefined;
  tail: Uint8Array;
  length: number;
}

function splitTensor(t: ITensorProto): TensorParts {
  // Asked before `t.raw_data` is touched: touching it would read the payload.
  const inFile = lazyRawDataRange(t);
  const raw = inFile ?? (t.raw_data && t.raw_data.length > 0 && Object.prototype.hasOwnProperty.call(t, 'raw_data') ? t.raw_data : undefined);
  if (!raw) {
    const whole = onnx.TensorProto.encode(onnx.TensorProto.create(t as onnx.ITensorProto)).finish();
    return { head: whole, raw: undefined, rawHeader: undefined, tail: new Uint8Array(0), length: whole.length };
  }
  const head = onnx.TensorProto.encode(onnx.TensorProto.create(pick(t, TENSOR_FIELDS, (n) => n < TENSOR_RAW_DATA_FIELD))).finish();
  const tail = onnx.TensorProto.encode(onnx.TensorProto.create(pick(t, TENSOR_FIELDS, (n) => n > TENSOR_RAW_DATA_FIELD))).finish();
  const rawHeader = lengthDelimitedHeader(TENSOR_RAW_DATA_FIELD, raw.length);
  return { head, raw, rawHeader, tail, length: head.length + rawHeader.length + raw.length + tail.length };
}

/** Small writes are gathered into one buffer; large payloads go straight to the file. */
class FileSink {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  position = 0;
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    if (bytes.length >= 1 << 20) {
      this.flush();
      this.writeNow(bytes);
      this.position += bytes.length;
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    // writev takes at most IOV_MAX (1024) pieces
    if (this.pendingBytes >= 1 << 20 || this.pending.length >= 1000) this.flush();
  }

  flush(): void {
    if (this.pendingBytes === 0) return;
    // One gathered write of the pieces where they are: concatenating them first would copy every small weight once more.
    const done = fs.writevSync(this.fd, this.pending, this.position);
    if (done < this.pendingBytes) this.writeNow(Buffer.concat(this.pending, this.pendingBytes).subarray(done), done);
    this.position += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Bytes still in a file, copied without holding them whole. */
  copy(range: FileRange): void {
    this.flush();
    this.position += copyRange(range, this.fd, this.position);
  }

  /** Writes `bytes` at the current position + `skip`, without moving the position. */
  private writeNow(bytes: Uint8Array, skip = 0): void {
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.position + skip + done);
  }
}

/**
 * Writes `model` with `graph` (whose `initializer` list may differ from the
 * model's own) to `fd`. Returns the number of bytes written.
 */
export function writeModelStreaming(fd: number, model: onnx.IModelProto, graph: onnx.IGraphProto, initializers: readonly ITensorProto[]): number {
  const modelHead = onnx.ModelProto.encode(onnx.ModelProto.create(pick(model, MODEL_FIELDS, (n) => n < MODEL_GRAPH_FIELD))).finish();
  const modelTail = onnx.ModelProto.encode(onnx.ModelProto.create(pick(model, MODEL_FIELDS, (n) => n > MODEL_GRAPH_FIELD))).finish();
  const graphHead = onnx.GraphProto.encode(onnx.GraphProto.create(pick(graph, GRAPH_FIELDS, (n) => n < GRAPH_INITIALIZER_FIELD))).finish();
  const graphTail = onnx.GraphProto.encode(onnx.GraphProto.create(pick(graph, GRAPH_FIELDS, (n) => n > GRAPH_INITIALIZER_FIELD))).finish();

  const tensors = initializers.map(splitTensor);
  const tensorHeaders = tensors.map((t) => lengthDelimitedHeader(GRAPH_INITIALIZER_FIELD, t.length));
  let graphLength = graphHead.length + graphTail.length;
  tensors.forEach((t, i) => (graphLength += tensorHeaders[i].length + t.length));

  const sink = new FileSink(fd);
  sink.write(modelHead);
  sink.write(lengthDelimitedHeader(MODEL_GRAPH_FIELD, graphLength));
  sink.write(graphHead);
  tensors.forEach((t, i) => {
    sink.write(tensorHeaders[i]);
    sink.write(t.head);
    if (t.raw) {
      sink.write(t.rawHeader!);
      if (t.raw instanceof Uint8Array) sink.write(t.raw);
      else sink.copy(t.raw);
    }
    sink.write(t.tail);
  });
  sink.write(graphTail);
  sink.write(modelTail);
  sink.flush();
  return sink.position;
}
