/**
 * Executes a plan: reads, merges and writes one tensor at a time.
 *
 * - Before any output file is opened, every adapter tensor the plan uses is
 *   checked for NaN/Inf (a broken adapter stops with its key).
 * - Merged values are checked as they are computed (NaN, or an overflow of the
 *   base dtype); a bad one aborts the atomic write, so the output never
 *   appears and the temporaries are removed.
 * - safetensors: the output has the base's tensors in the base's order and
 *   metadata; a sharded base gives sharded output (same shard file names,
 *   beside the output index) and a new index. The header is known from shapes
 *   alone, so tensors stream through: a plain LoRA tensor in blocks of rows
 *   (blockwiseMerge.ts), anything else (DoRA, LyCORIS, stacked adapters) one
 *   whole tensor at a time.
 * - ONNX: changed initializers are replaced by new TensorProto objects (the
 *   loaded file's raw_data views are never written into); tensors that were
 *   external stay external — their merged bytes wait in a scratch file beside
 *   the output until `saveModel` copies them (plain LoRA tensors stream there
 *   in blocks of rows), so memory stays bounded too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { throwIfCancelled, ModelFuseError, type CancelToken } from '../errors';
import { checkOutputPath, forgetTemporary, tempPathFor, trackTemporary, writeAtomically } from '../io/atomicWrite';
import { dtypeSize, isFloatType } from '../onnx/dtypes';
import { onnx, type ITensorProto } from '../onnx/proto';
import { isExternal, tensorDims } from '../onnx/tensors';
import { saveModel } from '../onnx/save';
import type { OnnxModel } from '../onnx/model';
import { safetensorsDtypeToOnnx } from '../safetensors/safetensors';
import { writeAll, writeSafetensorsStream } from '../safetensors/stream';
import type { LoadedAdapter, TensorRef } from './adapterFormats';
import { decodeFloatTensor } from './halfFloat';
import { loraProduct, mergeBias, mergeTerms, NonFiniteError, norm, encodeChecked, productOperands, productShape, type LoraTerm, type MergedTensor } from './delta';
import { JsMatmulBackend, type MatmulBackend } from './matmulBackend';
import type { LoraPlan, PlanPair } from './plan';
import { initializerBehind } from './planBase';
import type { SafetensorsBase } from './safetensorsTargets';
import { BufferPool } from './bufferPool';
import { unmergeRoundingBound } from './unmerge';
import { mergeInRowBlocks, type BlockwiseOperands, type BlockwiseSource } from './blockwiseMerge';
import type { FileRange } from '../io/fileRange';

export interface MergeOptions {
  force?: boolean;
  backend?: MatmulBackend;
  cancel?: CancelToken;
  /** Called after each merged tensor. */
  onProgress?(done: number, total: number, tensor: string): void;
}

export interface MergedRow {
  adapter: string;
  /** The module as the adapter names it. */
  key: string;
  target: string;
  /** The factor in front of B·A (weight × --scale × alpha/r); 1 for modules_to_save. */
  scale: number;
  delta_fro: number;
  rel_change: number;
  /** --subtract: the largest |W'' − W| the two roundings (merge, then unmerge) allow in this tensor. */
  rounding_bound?: number;
}

export interface MergeReport {
  output: string;
  /** Every file written (shards, external data). */
  files: string[];
  merged: MergedRow[];
  tensorsWritten: number;
}

/** What happens to one base tensor. */
interface TensorWork {
  /** Tensor read. */
  source: string;
  lora: PlanPair[];
  biasOf: PlanPair[];
  replace?: { pair: PlanPair; ref: TensorRef };
}

export function collectWork(plan: LoraPlan): Map<string, TensorWork> {
  const work = new Map<string, TensorWork>();
  const get = (target: string, source: string): TensorWork => {
    let w = work.get(target);
    if (!w) work.set(target, (w = { source, lora: [], biasOf: [] }));
    return w;
  };
  for (const p of plan.pairs) {
    if (p.kind === 'replace') {
      const m = plan.adapters[p.adapterIndex].modules.find((x) => x.module === p.module)!;
      for (const [param, target] of Object.entries(p.replacements ?? {})) get(target, target).replace = { pair: p, ref: m.replacements![param] };
      continue;
    }
    get(p.target, p.source).lora.push(p);
    const m = plan.adapters[p.adapterIndex].modules.find((x) => x.module === p.module)!;
    if (m.bias && p.bias) get(p.bias, p.bias).biasOf.push(p);
  }
  return work;
}

/** Multiply-adds of all B·A products of a plan: what decides whether ONNX Runtime's MatMul is worth a worker. */
export function productWork(plan: LoraPlan): number {
  let macs = 0;
  for (const p of plan.pairs) if (p.kind === 'lora') macs += p.rank * p.targetShape.reduce((a, b) => a * b, 1);
  return macs;
}

/** Every adapter tensor the plan reads must be finite: checked before any output exists. */
export function preflightAdapters(plan: LoraPlan): void {
  for (const p of plan.pairs) {
    const a = plan.adapters[p.adapterIndex];
    const m = a.modules.find((x) => x.module === p.module)!;
    const refs = [
      m.A,
      m.B,
      m.bias,
      m.magnitude,
      m.doraScale?.ref,
      ...Object.values(m.lycoris?.parts ?? {}),
      ...Object.values(m.replacements ?? {}),
    ].filter((r): r is TensorRef => !!r);
    for (const r of refs) {
      const v = a.read(r);
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new ModelFuseError(`${a.weightsPath}: '${r.key}' contains ${Number.isNaN(v[i]) ? 'NaN' : 'Inf'} (value ${i}); the adapter is broken, nothing was written`);
      }
    }
  }
}

class Merger {
  readonly rows: MergedRow[] = [];
  /** Products requested ahead of time (by target name): the worker computes them while the main thread merges. */
  private readonly ahead = new Map<string, { terms: LoraTerm[]; products: Promise<Float32Array>[] }>();
  /** Recycled buffers for merged tensors, when the caller recycles them after writing (the safetensors stream). */
  pool?: BufferPool;
  constructor(private readonly plan: LoraPlan, private readonly backend: MatmulBackend) {}

  /** Starts the products of a later tensor now; only worth it for an out-of-process backend. */
  prefetch(name: string, w: TensorWork | undefined): void {
    if (!w || this.backend.name === 'js' || this.ahead.has(name) || w.lora.length === 0) return;
    // A backend that merges in this process (mergeSingle) would compute the product twice; nothing to overlap.
    if (this.backend.mergeSingle) return;
    const terms = w.lora.map((p) => this.term(p));
    if (terms.some((t) => t.dense)) return; // a dense ΔW has no product to compute
    const products = terms.map((t) => loraProduct(t, w.lora[0].transposed, this.backend));
    for (const p of products) p.catch(() => undefined); // awaited (and reported) when the tensor is merged
    this.ahead.set(name, { terms, products });
  }

  private read(a: LoadedAdapter, ref: TensorRef): Float32Array {
    return a.read(ref);
  }

  private term(p: PlanPair): LoraTerm {
    const a = this.plan.adapters[p.adapterIndex];
    const m = a.modules.find((x) => x.module === p.module)!;
    const none = new Float32Array(0);
    return {
      kind: p.deltaKind, A: m.A ? this.read(a, m.A) : none, aShape: m.A?.shape ?? [], B: m.B ? this.read(a, m.B) : none, bShape: m.B?.shape ?? [],
      // LyCORIS DoRA takes the user's weight as its own multiplier, after the normalisation.
      scale: m.doraScale ? p.peftScale : p.scale,
      magnitude: m.magnitude ? this.read(a, m.magnitude) : undefined,
      dense: m.lycoris?.delta(),
      doraScale: m.doraScale && { values: this.read(a, m.doraScale.ref), axis: m.doraScale.axis, eps: m.doraScale.eps, multiplier: p.weight * p.globalScale },
    };
  }

  /** Merged bytes of one tensor, given its base bytes. */
  async merge(name: string, w: TensorWork, baseBytes: Uint8Array, dtype: number, shape: number[]): Promise<Uint8Array> {
    if (!isFloatType(dtype)) throw new ModelFuseError(`${this.plan.basePath}: tensor '${w.source}' is not a float tensor and cannot be merged into`);
    const count = shape.reduce((x, y) => x * y, 1);
    try {
      if (w.replace) {
        const base = decodeFloatTensor(baseBytes, dtype, count);
        const { pair, ref } = w.replace;
        const a = this.plan.adapters[pair.adapterIndex];
        const values = a.read(ref);
        const bytes = encodeChecked(values, dtype);
        let dsq = 0;
        for (let i = 0; i < count; i++) dsq += (values[i] - base[i]) ** 2;
        this.row(pair, name, 1, Math.sqrt(dsq), norm(base));
        return bytes;
      }
      let result: MergedTensor | undefined;
      let current: Uint8Array = baseBytes;
      if (w.lora.length) {
        const transposed = w.lora[0].transposed;
        if (w.lora.some((p) => p.transposed !== transposed)) throw new ModelFuseError(`${this.plan.basePath}: tensor '${name}' is matched with two different layouts`);
        const early = this.ahead.get(name);
        this.ahead.delete(name);
        const terms = early?.terms ?? w.lora.map((p) => this.term(p));
        result = await mergeTerms(baseBytes, shape, dtype, transposed, terms, this.backend, early?.products, this.pool);
        w.lora.forEach((p, i) => this.row(p, name, p.scale, result!.deltaNorms[i], result!.baseNorm));
        if (this.plan.subtract) this.noteRounding(name, baseBytes, result.bytes, dtype, count);
        current = result.bytes;
      }
      if (w.biasOf.length) {
        const adds = w.biasOf.map((p) => {
          const a = this.plan.adapters[p.adapterIndex];
          const m = a.modules.find((x) => x.module === p.module)!;
          return { bias: a.read(m.bias!), scale: p.scale };
        });
        const b = mergeBias(decodeFloatTensor(current, dtype, count), dtype, adds);
        w.biasOf.forEach((p, i) => this.row(p, name, p.scale, b.deltaNorms[i], b.baseNorm));
        if (this.plan.subtract) this.noteRounding(name, current, b.bytes, dtype, count);
        current = b.bytes;
      }
      return current;
    } catch (err) {
      throw this.named(err, name, w);
    }
  }

  /**
   * The product's [m, k]·[k, n] of a tensor that merges one block of rows at a time (blockwiseMerge.ts):
   * one plain LoRA term and nothing else on it, merged by the JavaScript kernel or a backend's fused
   * merge, and whose product has the stored tensor's layout (`byteLength` its bytes). Decided from the
   * adapter's metadata, nothing read. Null for everything else (DoRA, LyCORIS, several adapters, a bias,
   * unmerge, an unexpected shape), which is merged whole (and checked there).
   */
  blockwise(w: TensorWork, dtype: number, byteLength: number): { m: number; k: number; n: number } | null {
    if (w.replace || w.biasOf.length || w.lora.length !== 1 || this.plan.subtract || !isFloatType(dtype) || !dtypeSize(dtype)) return null;
    if (this.backend.name !== 'js' && !this.backend.mergeSingle) return null; // a remote product is computed whole, ahead
    const p = w.lora[0];
    const m = this.plan.adapters[p.adapterIndex].modules.find((x) => x.module === p.module)!;
    if (!m.A || !m.B || m.magnitude || m.lycoris || m.doraScale) return null;
    try {
      const shape = productShape(p.deltaKind, m.A.shape, m.B.shape, p.transposed);
      return shape.m * shape.n * dtypeSize(dtype)! === byteLength ? shape : null;
    } catch {
      return null; // a shape the whole merge explains
    }
  }

  /**
   * The blocks of a blockwise tensor, merged as they are read; the report row once the last is merged.
   * The adapter's factors are read now, for this tensor only.
   */
  async *mergeBlocks(
    name: string,
    w: TensorWork,
    dtype: number,
    readRows: BlockwiseSource['readRows'],
    pool: BufferPool,
    cancel?: CancelToken,
  ): AsyncGenerator<Uint8Array> {
    const p = w.lora[0];
    const t = this.term(p);
    const op: BlockwiseOperands = { ...productOperands(t, p.transposed), scale: t.scale };
    const done = (baseNorm: number, deltaNorm: number) => this.row(p, name, p.scale, deltaNorm, baseNorm);
    try {
      yield* mergeInRowBlocks(op, dtype, dtypeSize(dtype)!, { readRows, done }, this.backend, pool, cancel);
    } catch (err) {
      throw this.named(err, name, w);
    }
  }

  /** A NaN or overflow as the user reads it: which tensor, from which adapter modules, and that nothing was written. */
  private named(err: unknown, name: string, w: TensorWork): unknown {
    if (!(err instanceof NonFiniteError)) return err;
    const from = w.replace ? [w.replace.pair] : [...w.lora, ...w.biasOf];
    return new ModelFuseError(
      `${this.plan.basePath}: merged tensor '${name}' ${err.message} (from ${[...new Set(from.map((p) => `${p.adapter} '${p.module}'`))].join(', ')}); nothing was written`,
    );
  }

  /** The rounding bound of an unmerged tensor, on every row that wrote it. */
  private noteRounding(name: string, before: Uint8Array, after: Uint8Array, dtype: number, count: number): void {
    const bound = unmergeRoundingBound(decodeFloatTensor(before, dtype, count), decodeFloatTensor(after, dtype, count), dtype);
    for (const r of this.rows) if (r.target === name) r.rounding_bound = Math.max(r.rounding_bound ?? 0, bound);
  }

  private row(p: PlanPair, target: string, scale: number, deltaFro: number, baseFro: number): void {
    const relChange = baseFro > 0 ? deltaFro / baseFro : deltaFro > 0 ? Infinity : 0;
    this.rows.push({ adapter: p.adapter, key: p.module, target, scale, delta_fro: deltaFro, rel_change: relChange });
  }
}

/** Runs the plan and writes `output` (same format as the base). */
export async function mergeLora(plan: LoraPlan, output: string, options: MergeOptions = {}): Promise<MergeReport> {
  preflightAdapters(plan);
  const backend = options.backend ?? new JsMatmulBackend();
  const merger = new Merger(plan, backend);
  const work = collectWork(plan);
  const base = plan.base;
  const report = base.kind === 'onnx' ? await mergeOnnx(plan, base.model, work, merger, output, options) : await mergeSafetensors(plan, base.store, work, merger, output, options);
  const order = new Map(plan.pairs.map((p, i) => [`${p.adapter}\u0000${p.module}`, i]));
  report.merged = merger.rows.sort((a, b) => (order.get(`${a.adapter}\u0000${a.key}`) ?? 0) - (order.get(`${b.adapter}\u0000${b.key}`) ?? 0));
  return report;
}

// ---------------------------------------------------------------- safetensors

async function mergeSafetensors(
  plan: LoraPlan,
  base: SafetensorsBase,
  work: Map<string, TensorWork>,
  merger: Merger,
  output: string,
  options: MergeOptions,
): Promise<MergeReport> {
  const sharded = base.index !== null;
  if (sharded && !output.endsWith('.json')) throw new ModelFuseError(`${output}: the base is sharded (${path.basename(plan.basePath)}); the output must be an index .json too`);
  if (!sharded && !output.toLowerCase().endsWith('.safetensors')) throw new ModelFuseError(`${output}: output of a safetensors merge must end in .safetensors`);
  const inputs = [plan.basePath, ...base.shards.map((s) => s.path)];
  checkOutputPath(output, inputs, options.force ?? false);
  const outDir = path.dirname(path.resolve(output));
  const shardOutputs = sharded ? base.shards.map((s) => path.join(outDir, path.basename(s.path))) : [output];
  if (sharded) for (const s of shardOutputs) checkOutputPath(s, inputs, options.force ?? false);
  const total = work.size;
  let done = 0;
  let written = 0;
  // Buffers in flight: the read ahead, the tensor (or block) being merged and its result, the write behind.
  const pool = new BufferPool(4);
  merger.pool = pool;
  return writeAtomically(async (files) => {
    for (let si = 0; si < base.shards.length; si++) {
      const shard = base.shards[si];
      const temp = files.add(shardOutputs[si]);
      const fd = fs.openSync(temp, 'w');
      const reader = fs.openSync(shard.path, 'r');
      try {
        const entries = [...shard.entries.values()].sort((a, b) => a.begin - b.begin);
        // A three-stage pipeline: the next tensor to merge is read (libuv thread) and its product requested
        // (worker) while this one merges on the main thread, and the previous one is still being written.
        // Tensors no adapter changes are copied in small chunks between them.
        const reads: (Promise<Uint8Array> | undefined)[] = [];
        const readAt = (i: number): Promise<Uint8Array> => {
          let r = reads[i];
          if (!r) {
            reads[i] = r = readRange(reader, entries[i].begin, entries[i].end, shard.path, entries[i].name, pool.take(entries[i].end - entries[i].begin));
            r.catch(() => undefined); // awaited below; a failure surfaces there
          }
          return r;
        };
        // Plain single-term tensors stream in blocks of rows (read, merge and write a few MB at a time); the others are held whole.
        const blockwise = entries.map((e) => {
          const w = work.get(e.name);
          return w ? merger.blockwise(w, safetensorsDtypeToOnnx(e.dtype), e.end - e.begin) : null;
        });
        const nextWork = entries.map((_, i) => entries.findIndex((e, j) => j > i && work.has(e.name)));
        const firstWork = entries.findIndex((e) => work.has(e.name));
        // The next whole tensor is read ahead; a blockwise one reads its own next block.
        const readAhead = (i: number): void => {
          if (i < 0) return;
          if (!blockwise[i]) readAt(i);
          merger.prefetch(entries[i].name, work.get(entries[i].name));
        };
        readAhead(firstWork);
        await writeSafetensorsStream(
          fd,
          entries.map((e, i) => {
            const w = work.get(e.name);
            // A tensor no adapter changes is copied through a small buffer, never held whole (embeddings, lm_head).
            if (!w) {
              const copy = { fd: reader, begin: e.begin, path: shard.path, before: () => throwIfCancelled(options.cancel) };
              return { name: e.name, dtype: e.dtype, shape: e.shape, copy };
            }
            const op = blockwise[i];
            if (op) {
              const rowBytes = (e.end - e.begin) / op.m;
              const readRows = (r0: number, r1: number, into: Uint8Array) =>
                readRange(reader, e.begin + r0 * rowBytes, e.begin + r1 * rowBytes, shard.path, e.name, into);
              const dtype = safetensorsDtypeToOnnx(e.dtype);
              const blocks = async function* (): AsyncGenerator<Uint8Array> {
                yield* merger.mergeBlocks(e.name, w, dtype, readRows, pool, options.cancel);
                options.onProgress?.(++done, total, e.name);
                readAhead(nextWork[i]);
              };
              return { name: e.name, dtype: e.dtype, shape: e.shape, blocks };
            }
            return {
              name: e.name,
              dtype: e.dtype,
              shape: e.shape,
              bytes: async (): Promise<Uint8Array> => {
                throwIfCancelled(options.cancel);
                const raw = await readAt(i);
                reads[i] = undefined;
                readAhead(nextWork[i]);
                const merged = await merger.merge(e.name, w, raw, safetensorsDtypeToOnnx(e.dtype), e.shape);
                if (merged !== raw) pool.give(raw); // read by the merge only, which is over
                options.onProgress?.(++done, total, e.name);
                return merged;
              },
            };
          }),
          shard.metadata,
          (b) => pool.give(b), // written: nobody reads it any more
        );
        written += entries.length;
      } finally {
        fs.closeSync(fd);
        fs.closeSync(reader);
      }
    }
    if (sharded) {
      const idx = { ...base.index!, weight_map: { ...base.index!.weight_map } };
      const tempIndex = files.add(output);
      fs.writeFileSync(tempIndex, JSON.stringify(idx, null, 2) + '\n');
    }
    return { output, files: sharded ? [...shardOutputs, output] : [output], merged: [], tensorsWritten: written };
  }, { force: options.force });
}

/** Bytes [begin, end) of a file, read asynchronously. */
function readRange(fd: number, begin: number, end: number, file: string, name: string, buf: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void =>
      fs.read(fd, buf, done, buf.length - done, begin + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0 && done < buf.length) return reject(new ModelFuseError(`${file}: tensor '${name}': file ended early`));
        done += n;
        if (done < buf.length) step();
        else resolve(buf);
      });
    step();
  });
}


// ---------------------------------------------------------------- ONNX

async function mergeOnnx(
  plan: LoraPlan,
  model: OnnxModel,
  work: Map<string, TensorWork>,
  merger: Merger,
  output: string,
  options: MergeOptions,
): Promise<MergeReport> {
  if (!output.toLowerCase().endsWith('.onnx')) throw new ModelFuseError(`${output}: output of an ONNX merge must end in .onnx`);
  checkOutputPath(output, [model.path], options.force ?? false);
  const graph = model.graph;
  const initializers = [...(graph.initializer ?? [])];
  const indexOf = new Map(initializers.map((t, i) => [t.name ?? '', i]));
  const scratchPath = trackTemporary(`${tempPathFor(output)}.scratch`);
  let scratchFd: number | undefined;
  let scratchEnd = 0;
  const scratch = new Map<ITensorProto, { offset: number; length: number }>();
  const removedIdentities = new Set<string>();
  let done = 0;
  const order = [...work.keys()];
  const blocks = new BufferPool(4);
  // A merged tensor kept external: its bytes were just written at scratchEnd of the scratch file, where the save copies them from.
  const parked = (name: string, src: ITensorProto, dtype: number, dims: number[], length: number): onnx.TensorProto => {
    const t = onnx.TensorProto.create({
      name,
      data_type: dtype,
      dims: [...dims],
      data_location: onnx.TensorProto.DataLocation.EXTERNAL,
      external_data: src.external_data ?? [],
    });
    scratch.set(t, { offset: scratchEnd, length });
    scratchEnd += length;
    return t;
  };
  const place = (name: string, t: onnx.TensorProto): void => {
    const at = indexOf.get(name);
    if (at !== undefined) {
      initializers[at] = t;
    } else {
      // A new initializer: an untied copy, or a value that an Identity produced from a shared initializer.
      indexOf.set(name, initializers.length);
      initializers.push(t);
      removedIdentities.add(name);
    }
  };
  try {
    for (const [i, [name, w]] of [...work].entries()) {
      throwIfCancelled(options.cancel);
      if (i + 1 < order.length) merger.prefetch(order[i + 1], work.get(order[i + 1]));
      const src = initializerBehind(model, w.source);
      if (!src) throw new ModelFuseError(`${model.path}: '${w.source}' is not backed by an initializer`);
      const dtype = src.data_type ?? 0;
      const dims = tensorDims(src);
      // An external plain LoRA tensor streams from the base's data file to the scratch file in blocks of rows.
      const range = isExternal(src) ? model.tensorRange(src) : undefined;
      const op = range && !range.edits?.length ? merger.blockwise(w, dtype, range.length) : null;
      if (range && op) {
        scratchFd ??= fs.openSync(scratchPath, 'w+');
        const rowBytes = range.length / op.m;
        const readRows = (r0: number, r1: number, into: Uint8Array) =>
          readRange(range.fd, range.offset + r0 * rowBytes, range.offset + r1 * rowBytes, range.file, name, into);
        let at = scratchEnd;
        for await (const block of merger.mergeBlocks(name, w, dtype, readRows, blocks, options.cancel)) {
          at += writeAll(scratchFd, block, at);
          blocks.give(block);
        }
        place(name, parked(name, src, dtype, dims, range.length));
        options.onProgress?.(++done, work.size, name);
        continue;
      }
      const merged = await merger.merge(name, w, model.tensorBytes(src), dtype, dims);
      let t: onnx.TensorProto;
      if (isExternal(src)) {
        // Keep it external: park the bytes in the scratch file; the save reads them back one at a time.
        scratchFd ??= fs.openSync(scratchPath, 'w+');
        writeAll(scratchFd, merged, scratchEnd);
        t = parked(name, src, dtype, dims, merged.length);
      } else {
        t = onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: merged });
      }
      place(name, t);
      options.onProgress?.(++done, work.size, name);
    }
    for (const p of plan.pairs) if (p.untie) rewire(model, p.untie.node, p.untie.from, p.target);
    graph.node = (graph.node ?? []).filter((n) => !(n.op_type === 'Identity' && removedIdentities.has(n.output?.[0] ?? '')));
    graph.initializer = initializers as onnx.TensorProto[];
    const view = Object.create(model) as OnnxModel;
    // A merged tensor's bytes are in the scratch file (the save copies them from there), not where its reference points.
    view.tensorRange = (t: ITensorProto): FileRange | undefined => {
      const s = scratch.get(t);
      return s ? { fd: scratchFd!, offset: s.offset, length: s.length, file: scratchPath } : model.tensorRange(t);
    };
    view.tensorBytes = (t: ITensorProto): Uint8Array => {
      if (scratch.has(t)) throw new Error(`internal: merged tensor '${t.name}' is copied from the scratch file, not read`);
      return model.tensorBytes(t);
    };
    const saved = await saveModel(view, output, { force: options.force });
    return { output, files: saved.externalData ? [output, saved.externalData] : [output], merged: [], tensorsWritten: initializers.length };
  } finally {
    if (scratchFd !== undefined) fs.closeSync(scratchFd);
    fs.rmSync(scratchPath, { force: true });
    forgetTemporary(scratchPath);
  }
}

/** Points `node`'s read of `from` (directly or through its Transpose) at `to`. */
function rewire(model: OnnxModel, nodeName: string, from: string, to: string): void {
  const nodes = model.graph.node ?? [];
  const node = nodes.find((n, i) => (n.name || `${n.op_type}#${i}`) === nodeName);
  if (!node) throw new ModelFuseError(`${model.path}: node '${nodeName}' not found while untying '${from}'`);
  const ins = node.input ?? [];
  const slot = ins.indexOf(from);
  if (slot >= 0) {
    ins[slot] = to;
    return;
  }
  for (const v of ins) {
    const t = nodes.find((n) => n.output?.includes(v) && n.op_type === 'Transpose' && n.input?.[0] === from);
    if (t) {
      t.input![0] = to;
      return;
    }
  }
  throw new ModelFuseError(`${model.path}: node '${nodeName}' does not read '${from}'`);
}

