/**
 * Writes a model atomically and streaming (see streamingEncode.ts: no
 * full-size buffer is built). A model that kept its weights in external data
 * keeps them there: every initializer of at least `externalizeMinBytes` (as
 * onnx's own convert_model_to_external_data does) is copied, one at a time,
 * into `OUT.onnx.data` beside the output, including tensors a fold just
 * produced. Bytes still in a file (the input's external data, payloads an
 * on-demand load left in the model file) are copied from there through one
 * recycled buffer, never read whole. If the embedded weights would push the protobuf past 2 GiB, large
 * tensors are moved to external data too. The input is never modified.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, type ITensorProto } from './proto';
import type { OnnxModel } from './model';
import { embeddedBytes, expectedByteLength, isExternal } from './tensors';
import { writeModelStreaming } from './streamingEncode';
import { lazyRawDataLength } from './lazyRawData';
import { forEachTensor } from './walk';
import { checkOutputPath, writeAtomicallyIf } from '../io/atomicWrite';
import { copyRange } from '../io/fileRange';
import { fileError } from '../errors';

export interface SaveOptions {
  /** Replace an existing output (never the input unless this is set). */
  force?: boolean;
  /** Embedded bytes above which large tensors go to external data (default: just under protobuf's 2 GiB). */
  embeddedLimit?: number;
  /** Tensors at least this big are the ones moved out when the limit is passed (default 1 KiB). */
  externalizeMinBytes?: number;
  /**
   * Called with the finished temporary model (its external data beside it, under the final name) before
   * anything is moved into place; false discards it all (`fuse --verify`: only a verified model is committed).
   */
  beforeCommit?: (tempModel: string) => Promise<boolean>;
}

const DEFAULT_EMBEDDED_LIMIT = 2 ** 31 - 64 * 2 ** 20; // leave room for the graph itself
const ALIGN = 64;

export interface SaveResult {
  output: string;
  externalData: string | null;
  bytes: number;
  /** False when `beforeCommit` declined: nothing was written. */
  committed: boolean;
}

export async function saveModel(model: OnnxModel, output: string, options: SaveOptions = {}): Promise<SaveResult> {
  checkOutputPath(output, [model.path], options.force ?? false);
  const graph = model.proto.graph;
  if (!graph) throw fileError(model.path, 'model has no graph');

  // Nested external tensors (inside Constant attributes, subgraphs) are rare; we write only top-level ones.
  forEachTensor(model.proto, ({ tensor, topLevelInitializer, where }) => {
    if (!topLevelInitializer && isExternal(tensor)) {
      throw fileError(model.path, `tensor '${tensor.name}' (${where}) uses external data outside the top-level initializers, which ModelFuse cannot rewrite yet`);
    }
  });

  const initializers = graph.initializer ?? [];
  const limit = options.embeddedLimit ?? DEFAULT_EMBEDDED_LIMIT;
  const minBytes = options.externalizeMinBytes ?? 1024;
  let embedded = 0;
  // A payload still in the input file is counted by its length: touching raw_data would read it.
  for (const t of initializers) if (!isExternal(t)) embedded += lazyRawDataLength(t) ?? t.raw_data?.length ?? 0;
  const inputUsesExternalData = initializers.some(isExternal);
  const moveOut = (t: ITensorProto): boolean =>
    isExternal(t) ||
    ((inputUsesExternalData || embedded > limit) &&
      (expectedByteLength(t) ?? 0) >= minBytes &&
      (lazyRawDataLength(t) !== undefined || !!embeddedBytes(t)));
  const needsDataFile = initializers.some(moveOut);

  const dataName = `${path.basename(output)}.data`;
  const dataPath = path.join(path.dirname(path.resolve(output)), dataName);
  if (needsDataFile && !options.force && fs.existsSync(dataPath)) {
    throw fileError(dataPath, ['external data file exists', { term: 'remedy', remedy: { kind: 'replace-output' } }], undefined, undefined, { code: 'output/data-exists', data: { path: dataPath } });
  }

  const { result, committed } = await writeAtomicallyIf(async (files) => {
    let outInitializers: ITensorProto[] = initializers;
    if (needsDataFile) {
      const dataTemp = files.add(dataPath);
      const fd = fs.openSync(dataTemp, 'w');
      try {
        let offset = 0;
        outInitializers = initializers.map((t) => {
          if (!moveOut(t)) return t;
          const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
          if (pad) fs.writeSync(fd, Buffer.alloc(pad), 0, pad, offset);
          offset += pad;
          const inFile = model.tensorRange(t);
          const length = inFile ? copyRange(inFile, fd, offset) : writeFully(fd, model.tensorBytes(t), offset);
          // Only the tensor's identity travels; its values (raw_data or typed fields) now live in the data file.
          const copy = onnx.TensorProto.create({ name: t.name, dims: t.dims, data_type: t.data_type });
          if (t.doc_string) copy.doc_string = t.doc_string;
          if (t.metadata_props?.length) copy.metadata_props = t.metadata_props;
          copy.data_location = onnx.TensorProto.DataLocation.EXTERNAL;
          copy.external_data = [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(length) },
          ].map((e) => onnx.StringStringEntryProto.create(e));
          offset += length;
          return copy;
        });
      } finally {
        fs.closeSync(fd);
      }
    }
    const modelTemp = files.add(output);
    const fd = fs.openSync(modelTemp, 'w');
    let bytes: number;
    try {
      bytes = writeModelStreaming(fd, model.proto, graph, outInitializers);
    } finally {
      fs.closeSync(fd);
    }
    return { output, externalData: needsDataFile ? dataPath : null, bytes };
  }, {
    force: options.force,
    beforeCommit: options.beforeCommit && ((files) => options.beforeCommit!(files.tempOf(output)!)),
  });
  return { ...result, committed };
}

function writeFully(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
  return bytes.length;
}
