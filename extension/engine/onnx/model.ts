/**
 * A loaded ONNX model: the decoded proto, the file buffer its `raw_data`
 * views point into, and lazy access to external data. Loading validates
 * everything a hostile or broken file could get wrong (not protobuf, not a
 * model, tensor lengths that do not match their shapes, external data that
 * escapes the folder or is missing) and reports it as one ModelFuseError
 * naming the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, ModelFuseError } from '../errors';
import { onnx, toNumber, toNumberClamped, type ITensorProto } from './proto';
import { bytesToFloat64, dtypeName, dtypeSize, isNumericType } from './dtypes';
import { ExternalDataReader } from './externalData';
import { embeddedBytes, expectedByteLength, isExternal, storedByteLength, tensorDims, tensorElementCount } from './tensors';
import { forEachTensor } from './walk';
import { readSkeleton } from './skeleton';
import { attachLazyRawData, lazyRawDataRange, type PayloadSource } from './lazyRawData';
import { checkGraphSanity } from './graphSanity';
import type { FileRange } from '../io/fileRange';

/** protobuf cannot hold more than 2 GiB; a bigger .onnx file is not a valid model. */
const MAX_PROTO_BYTES = 2 ** 31 - 1;

export interface LoadOptions {
  /**
   * 'all' (default): read the whole file; embedded raw_data are views into `fileBytes`.
   * 'on-demand': read the graph and the small tensors only; each large
   * initializer's bytes are read from the file the first time its `raw_data`
   * is used (lazyRawData.ts). For work that needs no weight values (`scan`,
   * the module tree): a 100 MB model then costs a few hundred kB to open.
   * The model must stay open (not `close()`d) while such tensors are read.
   */
  weights?: 'all' | 'on-demand';
  /** With 'on-demand': payloads at least this big stay in the file (default skeleton.ts's LAZY_PAYLOAD_MIN_BYTES, 64 KiB). */
  onDemandMinBytes?: number;
}

/** Far above any real opset (ONNX is at ~23); a larger number is a corrupt or hostile file. */
const MAX_OPSET = 10_000;

export class OnnxModel {
  private constructor(
    readonly path: string,
    readonly proto: onnx.ModelProto,
    /**
     * The bytes that were decoded: the whole file, whose embedded raw_data
     * are views into it, so it lives as long as the model; with
     * `weights: 'on-demand'`, the file without its large payloads.
     */
    readonly fileBytes: Buffer,
    readonly external: ExternalDataReader,
    /** Size of the .onnx file on disk. */
    readonly fileSize: number = fileBytes.length,
    private readonly payloads?: PayloadSource,
  ) {}

  static load(modelPath: string, options: LoadOptions = {}): OnnxModel {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(modelPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw fileError(modelPath, code === 'ENOENT' || code === 'ENOTDIR' ? 'file not found' : `cannot access the file (${code ?? 'error'})`);
    }
    if (!stat.isFile()) throw fileError(modelPath, 'not a file');
    if (stat.size === 0) throw fileError(modelPath, 'file is empty');
    if (stat.size > MAX_PROTO_BYTES) throw fileError(modelPath, `file is ${stat.size} bytes; an ONNX protobuf cannot exceed 2 GiB (large weights belong in external data)`);
    if (options.weights === 'on-demand') {
      const model = OnnxModel.loadSkeleton(modelPath, options.onDemandMinBytes);
      if (model) return model;
    }
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(modelPath);
    } catch (err) {
      throw fileError(modelPath, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return OnnxModel.fromBytes(modelPath, bytes);
  }

  /**
   * The model with its large payloads left in the file, or null when the file
   * is not of the plain shape skeleton.ts reads or does not decode: the
   * caller then loads it whole, so every error comes from the full load.
   */
  private static loadSkeleton(modelPath: string, minPayloadBytes?: number): OnnxModel | null {
    let fd: number;
    try {
      fd = fs.openSync(modelPath, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    } catch {
      return null;
    }
    let keepOpen = false;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return null;
      const skeleton = readSkeleton(fd, st.size, minPayloadBytes);
      if (!skeleton) return null;
      let proto: onnx.ModelProto;
      try {
        proto = onnx.ModelProto.decode(skeleton.bytes);
      } catch {
        return null;
      }
      const initializers = proto.graph?.initializer ?? [];
      if (initializers.length !== skeleton.initializers) return null;
      const source: PayloadSource = { path: modelPath, fd, size: st.size, mtimeMs: st.mtimeMs };
      for (const p of skeleton.payloads) attachLazyRawData(initializers[p.initializer], source, p.offset, p.length);
      const model = new OnnxModel(modelPath, proto, skeleton.bytes, new ExternalDataReader(modelPath), st.size, source);
      try {
        model.validate();
      } catch (err) {
        model.external.close();
        if (err instanceof ModelFuseError) throw err;
        throw fileError(modelPath, `not a valid ONNX model (${shortReason(err)})`);
      }
      keepOpen = true;
      return model;
    } catch (err) {
      if (err instanceof ModelFuseError) throw err;
      return null; // an I/O error while walking: the full read reports it
    } finally {
      if (!keepOpen) fs.closeSync(fd);
    }
  }

  /** Decodes and validates bytes that came from `modelPath` (used by load and by tests). */
  static fromBytes(modelPath: string, bytes: Buffer): OnnxModel {
    let proto: onnx.ModelProto;
    try {
      proto = onnx.ModelProto.decode(bytes);
    } catch (err) {
      throw fileError(modelPath, `not a valid ONNX model (${decodeFailure(err)})`, undefined, `protobuf: ${shortReason(err)}`);
    }
    const model = new OnnxModel(modelPath, proto, bytes, new ExternalDataReader(modelPath));
    try {
      model.validate();
    } catch (err) {
      model.close();
      if (err instanceof ModelFuseError) throw err;
      throw fileError(modelPath, `not a valid ONNX model (${shortReason(err)})`);
    }
    return model;
  }

  get graph(): onnx.GraphProto {
    return this.proto.graph as onnx.GraphProto;
  }

  /** The opset version imported for a domain ('' = the default ONNX domain), 0 if none. */
  opset(domain = ''): number {
    const d = domain === 'ai.onnx' ? '' : domain;
    for (const o of this.proto.opset_import ?? []) {
      if ((o.domain ?? '') === d || (d === '' && o.domain === 'ai.onnx')) return toNumber(o.version);
    }
    return 0;
  }

  /** A tensor's bytes: a view for embedded data, read from disk for external data. */
  tensorBytes(t: ITensorProto): Uint8Array {
    if (isExternal(t)) return this.external.read(t, expectedByteLength(t));
    const b = embeddedBytes(t);
    if (!b) throw fileError(this.path, `tensor '${t.name}': cannot read ${dtypeName(t.data_type ?? 0)} data`);
    return b;
  }

  /**
   * Where a tensor's bytes sit in a file when they are not in memory (external
   * data, or a payload an on-demand load left in the model file), else
   * undefined. Reads nothing: a save copies untouched weights from there.
   */
  tensorRange(t: ITensorProto): FileRange | undefined {
    if (isExternal(t)) return this.external.range(t, expectedByteLength(t));
    return lazyRawDataRange(t);
  }

  /** A tensor's values as float64, for arithmetic and statistics. */
  tensorValues(t: ITensorProto): Float64Array {
    const dtype = t.data_type ?? 0;
    if (!isNumericType(dtype)) throw fileError(this.path, `tensor '${t.name}': ${dtypeName(dtype)} values cannot be used numerically`);
    return bytesToFloat64(this.tensorBytes(t), dtype, tensorElementCount(t));
  }

  close(): void {
    this.external.close();
    if (this.payloads && this.payloads.fd >= 0) {
      fs.closeSync(this.payloads.fd);
      this.payloads.fd = -1;
    }
  }

  private validate(): void {
    const p = this.proto;
    if (!p.graph) throw fileError(this.path, 'not an ONNX model (it has no graph)');
    if (!p.ir_version || toNumber(p.ir_version) <= 0) throw fileError(this.path, 'not an ONNX model (no ir_version)');
    if ((p.opset_import ?? []).length === 0 && toNumber(p.ir_version) >= 3) throw fileError(this.path, 'not an ONNX model (no opset_import)');
    for (const o of p.opset_import ?? []) {
      const v = toNumberClamped(o.version);
      if (!Number.isSafeInteger(v) || v < 1 || v > MAX_OPSET) throw fileError(this.path, `opset ${String(o.version)} of domain '${o.domain || 'ai.onnx'}' is not a valid version`);
    }
    checkGraphSanity(p.graph, this.path);
    forEachTensor(p, ({ tensor, where }) => this.validateTensor(tensor, where));
  }

  private validateTensor(t: ITensorProto, where: string): void {
    const name = `tensor '${t.name ?? ''}' (${where})`;
    let dims: number[];
    try {
      dims = tensorDims(t);
    } catch {
      throw fileError(this.path, `${name}: a dimension is out of range`);
    }
    let count = 1;
    for (const d of dims) {
      if (d < 0) throw fileError(this.path, `${name}: negative dimension ${d}`);
      count *= d;
    }
    const size = dtypeSize(t.data_type ?? 0);
    if (!Number.isSafeInteger(count) || (size !== undefined && count * size > Number.MAX_SAFE_INTEGER)) {
      throw fileError(this.path, `${name}: absurd shape [${dims.join(', ')}]`);
    }
    if (size === undefined) return; // strings and sub-byte types: nothing to check cheaply
    const expected = count * size;
    if (isExternal(t)) {
      this.external.check(t, expected);
      return;
    }
    const stored = storedByteLength(t) ?? 0;
    if (stored !== expected) {
      throw fileError(this.path, `${name}: holds ${stored} bytes but ${dtypeName(t.data_type ?? 0)}[${dims.join(', ')}] needs ${expected}`);
    }
  }
}

/** protobufjs's reasons, in words a user can act on (the raw reason goes to the error's detail). */
function decodeFailure(err: unknown): string {
  const reason = shortReason(err);
  // protobufjs reports a length running past the end of the buffer as "index out of range: a + b > n"
  if (/index out of range/.test(reason)) return "the file is truncated or corrupt: a protobuf field runs past the end of the data";
  return 'it is truncated or not a protobuf';
}

function shortReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 200);
}

/** Human-readable path of a model for messages (relative to cwd when shorter). */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && rel.length < p.length ? rel : p;
}
