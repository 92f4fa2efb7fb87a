/**
 * Builds real ONNX protobufs the way other exporters write them (tf2onnx,
 * paddle2onnx, hand-made onnx.helper graphs, PyTorch's old exporter), and
 * runs the whole pipeline on them: scan → fuse → ONNX Runtime on the original
 * and the fused file, same seeded inputs.
 *
 * The builder is deliberately low level: node names may be empty or repeated,
 * weights may be initializers, Constant nodes, graph inputs (IR < 4) or
 * external data, because those are exactly the differences between
 * exporters the engine has to survive.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { bytesToFloat64, float16Bits, float16FromBits, float64ToBytes } from '../../../extension/engine/onnx/dtypes';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { fuseModelFile, type FuseFileResult } from '../../../extension/engine/fusion/fuse';
import type { Candidate, PatternName } from '../../../extension/engine/fusion/candidate';
import { randn } from '../fusion/helpers/build';
import { relativeToMax } from '../fusion/helpers/numbers';

export { randn };

export type AttrValue = number | number[] | string | { float: number } | { graph: onnx.IGraphProto };

/**
 * Where a constant lives: an initializer (default), a `Constant` node with a
 * tensor (tf2onnx), a `Constant` node with `value_floats` (opset 12+, 1-D
 * float32 only), or an initializer also listed as a graph input (IR < 4).
 */
export type ConstantStorage = 'initializer' | 'constant-node' | 'constant-floats' | 'graph-input';

export interface GraphParts {
  node: onnx.NodeProto[];
  initializer: onnx.TensorProto[];
  input: onnx.ValueInfoProto[];
  output: onnx.ValueInfoProto[];
}

/**
 * A tensor in `raw_data`, or with `typed` in the typed fields onnx.helper.make_tensor
 * writes by default (float_data, double_data; float16 bit patterns in int32_data).
 */
export function tensorProto(name: string, dims: number[], values: ArrayLike<number>, dtype: number = DataType.FLOAT, typed = false): onnx.TensorProto {
  if (!typed) return onnx.TensorProto.create({ name, data_type: dtype, dims, raw_data: float64ToBytes(values, dtype) });
  const t = onnx.TensorProto.create({ name, data_type: dtype, dims });
  if (dtype === DataType.FLOAT) t.float_data = Array.from(values);
  else if (dtype === DataType.DOUBLE) t.double_data = Array.from(values);
  else if (dtype === DataType.FLOAT16) t.int32_data = Array.from(values, float16Bits);
  else throw new Error(`typed storage for dtype ${dtype} is not needed by these tests`);
  return t;
}

export function valueInfo(name: string, dtype: number = DataType.FLOAT, dims?: (number | string)[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensor_type: { elem_type: dtype, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } : {}) } },
  });
}

function attribute(name: string, v: AttrValue): onnx.AttributeProto {
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: Buffer.from(v) });
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: v });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: v });
  if ('graph' in v) return onnx.AttributeProto.create({ name, type: AttributeType.GRAPH, g: v.graph });
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: v.float });
}

/** Accumulates one graph; `node()` with name '' makes an unnamed node, as onnx.helper.make_node does by default. */
export class GraphBuilder {
  readonly parts: GraphParts = { node: [], initializer: [], input: [], output: [] };
  private seed = 1;

  /**
   * @param dtype the element type of inputs, outputs and constants
   * @param roundAs round every constant to this type first (a float32 twin of a float16 model holds the same values)
   */
  constructor(readonly dtype: number = DataType.FLOAT, readonly roundAs?: number) {}

  input(name: string, dims: (number | string)[], dtype = this.dtype): this {
    this.parts.input.push(valueInfo(name, dtype, dims));
    return this;
  }

  output(name: string, dims?: (number | string)[], dtype = this.dtype): this {
    this.parts.output.push(valueInfo(name, dtype, dims));
    return this;
  }

  node(op: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): this {
    this.parts.node.push(onnx.NodeProto.create({
      name, op_type: op, domain: '', input: inputs, output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    }));
    return this;
  }

  /** A constant with the given values (or seeded normal values), stored as `storage` says; returns its value name. */
  constant(name: string, dims: number[], opts: { values?: ArrayLike<number>; storage?: ConstantStorage; scale?: number; offset?: number; positive?: boolean; dtype?: number; nodeName?: string; typed?: boolean } = {}): string {
    const count = dims.reduce((a, b) => a * b, 1);
    let values: ArrayLike<number> = opts.values ?? randn(count, this.seed++, opts.scale ?? 0.5, opts.offset ?? 0);
    if (opts.positive) values = Float64Array.from(values, (v) => 0.5 + Math.abs(v));
    if (this.roundAs !== undefined) values = roundTo(values, this.roundAs);
    const dtype = opts.dtype ?? this.dtype;
    const storage = opts.storage ?? 'initializer';
    if (storage === 'constant-node' || storage === 'constant-floats') {
      if (storage === 'constant-floats' && (dims.length !== 1 || dtype !== DataType.FLOAT)) throw new Error('value_floats holds a 1-D float32 tensor');
      const value = storage === 'constant-floats'
        ? onnx.AttributeProto.create({ name: 'value_floats', type: AttributeType.FLOATS, floats: Array.from(values) })
        : onnx.AttributeProto.create({ name: 'value', type: AttributeType.TENSOR, t: tensorProto('', dims, values, dtype, opts.typed) });
      this.parts.node.push(onnx.NodeProto.create({ name: opts.nodeName ?? '', op_type: 'Constant', domain: '', input: [], output: [name], attribute: [value] }));
    } else {
      this.parts.initializer.push(tensorProto(name, dims, values, dtype, opts.typed));
      if (storage === 'graph-input') this.parts.input.push(valueInfo(name, dtype, dims));
    }
    return name;
  }

  /** The four BatchNormalization parameters [scale, bias, mean, var] for `c` channels, named by `names`. */
  batchNormParams(names: [string, string, string, string], c: number, storage: ConstantStorage = 'initializer', typed = false): string[] {
    return [
      this.constant(names[0], [c], { storage, typed, scale: 0.3, offset: 1 }),
      this.constant(names[1], [c], { storage, typed, scale: 0.2 }),
      this.constant(names[2], [c], { storage, typed, scale: 0.3 }),
      this.constant(names[3], [c], { storage, typed, positive: true }),
    ];
  }

  graph(name = 'main_graph'): onnx.GraphProto {
    return onnx.GraphProto.create({ name, ...this.parts });
  }
}

export interface ModelOptions {
  opset: number;
  irVersion: number;
  producer: string;
  producerVersion?: string;
}

export function modelProto(g: GraphBuilder, o: ModelOptions): onnx.ModelProto {
  return onnx.ModelProto.create({
    ir_version: o.irVersion,
    producer_name: o.producer,
    producer_version: o.producerVersion ?? '',
    opset_import: [{ domain: '', version: o.opset }],
    graph: g.graph(),
  });
}

/** Writes the model; `external` moves the named initializers' bytes into `<dir>/<location>` (e.g. `weights/w.bin`). */
export function writeModel(file: string, model: onnx.ModelProto, external?: { location: string; names: string[] }): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (external) {
    const dataFile = path.join(path.dirname(file), external.location);
    fs.mkdirSync(path.dirname(dataFile), { recursive: true });
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const t of model.graph!.initializer!) {
      if (!external.names.includes(t.name!)) continue;
      const bytes = Buffer.from(t.raw_data!);
      chunks.push(bytes);
      t.raw_data = new Uint8Array(0);
      t.data_location = onnx.TensorProto.DataLocation.EXTERNAL;
      t.external_data = [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
      offset += bytes.length;
    }
    fs.writeFileSync(dataFile, Buffer.concat(chunks));
  }
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/** Values as `dtype` stores them (rounded once), back in float64. */
export function roundTo(values: ArrayLike<number>, dtype: number): Float64Array {
  return bytesToFloat64(float64ToBytes(values, dtype), dtype, values.length);
}

// ---------------------------------------------------------------- ONNX Runtime

export interface Feed {
  dims: number[];
  dtype?: number;
  values?: ArrayLike<number>;
}

const ORT_TYPES: Record<number, ort.Tensor.Type> = { [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.FLOAT16]: 'float16' };

/** Seeded normal(0,1) values for a feed without values. */
export function feedValues(feeds: Record<string, Feed>, seed = 1234): Record<string, Required<Feed>> {
  const out: Record<string, Required<Feed>> = {};
  let s = seed;
  for (const [name, f] of Object.entries(feeds)) {
    out[name] = { dims: f.dims, dtype: f.dtype ?? DataType.FLOAT, values: f.values ?? randn(f.dims.reduce((a, b) => a * b, 1), s++) };
  }
  return out;
}

/** Runs a model file with ONNX Runtime, graph optimizations off (so ORT's own fusions hide nothing); outputs as float64. */
export async function runOrt(file: string, feeds: Record<string, Required<Feed>>): Promise<Record<string, Float64Array>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const bytes = float64ToBytes(f.values, f.dtype);
      const data = f.dtype === DataType.FLOAT ? new Float32Array(bytes.buffer) : f.dtype === DataType.DOUBLE ? new Float64Array(bytes.buffer) : new Uint16Array(bytes.buffer);
      ortFeeds[name] = new ort.Tensor(ORT_TYPES[f.dtype], data, f.dims);
    }
    const results = await session.run(ortFeeds);
    const out: Record<string, Float64Array> = {};
    for (const [name, t] of Object.entries(results)) {
      const data = t.data as ArrayLike<number>;
      out[name] = t.type === 'float16' ? Float64Array.from(data, float16FromBits) : Float64Array.from(data);
    }
    return out;
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------- the pipeline

export interface PipelineResult {
  candidates: Candidate[];
  fuse: FuseFileResult;
  /** The fused model, loaded back from disk. */
  fused: OnnxModel;
  /** Original model, loaded from disk (for op counts). */
  original: OnnxModel;
  before: Record<string, Float64Array>;
  after: Record<string, Float64Array>;
  /** Largest output difference relative to the output's largest value. */
  maxRelDiff: number;
}

/**
 * scan → fuse (to `<file>.fused.onnx`) → scan of the fused file (nothing
 * foldable may be left) → ONNX Runtime on both files with the same seeded inputs. Asserts every output agrees within `tolerance`
 * (relative to the output's largest magnitude) unless `compare` is false.
 */
export async function runPipeline(file: string, feeds: Record<string, Feed>, opts: { tolerance?: number; compare?: boolean } = {}): Promise<PipelineResult> {
  const original = OnnxModel.load(file);
  const { candidates } = scanModel(original);
  const out = file.replace(/\.onnx$/, '') + '.fused.onnx';
  const fuse = await fuseModelFile(file, out);
  const fused = OnnxModel.load(out);
  // fuse repeats scan until nothing folds: the written model must have nothing foldable left.
  const left = scanModel(fused).candidates.filter((c) => c.folds && c.blocked === null);
  assert.deepEqual(left.map((c) => c.id), [], `${path.basename(file)}: the fused model still has foldable candidates`);
  const inputs = feedValues(feeds);
  let before: Record<string, Float64Array> = {};
  let after: Record<string, Float64Array> = {};
  let maxRelDiff = 0;
  if (opts.compare !== false) {
    before = await runOrt(file, inputs);
    after = await runOrt(out, inputs);
    for (const name of Object.keys(before)) {
      assert.ok(after[name], `${path.basename(file)}: output '${name}' is missing after fusing`);
      maxRelDiff = Math.max(maxRelDiff, relativeToMax(after[name], before[name]));
    }
    const tol = opts.tolerance ?? 1e-5;
    assert.ok(maxRelDiff <= tol, `${path.basename(file)}: fused outputs differ from the original by ${maxRelDiff} (relative), tolerance ${tol}`);
  }
  return { candidates, fuse, fused, original, before, after, maxRelDiff };
}

// ---------------------------------------------------------------- assertions

export function opCount(model: OnnxModel, op: string): number {
  return model.graph.node.filter((n) => n.op_type === op).length;
}

/** The one candidate of `pattern` whose nodes are exactly `nodes`. */
export function findCandidate(candidates: readonly Candidate[], pattern: PatternName, nodes: string[]): Candidate {
  const found = candidates.filter((c) => c.pattern === pattern && c.nodes.length === nodes.length && c.nodes.every((n, i) => n === nodes[i]));
  assert.equal(found.length, 1, `expected one ${pattern} candidate over [${nodes.join(', ')}], scan found: ${describeCandidates(candidates)}`);
  return found[0];
}

/** Candidate `pattern` over `nodes`, not blocked. */
export function expectFusable(candidates: readonly Candidate[], pattern: PatternName, nodes: string[]): Candidate {
  const c = findCandidate(candidates, pattern, nodes);
  assert.equal(c.blocked, null, `${c.id} should be fusable, is blocked: ${c.blocked}`);
  return c;
}

/** Candidate `pattern` over `nodes`, blocked with a reason matching `reason`. */
export function expectBlocked(candidates: readonly Candidate[], pattern: PatternName, nodes: string[], reason: RegExp): Candidate {
  const c = findCandidate(candidates, pattern, nodes);
  assert.ok(c.blocked, `${c.id} should be blocked`);
  assert.match(c.blocked, reason);
  return c;
}

export function describeCandidates(candidates: readonly Candidate[]): string {
  return candidates.length ? candidates.map((c) => `${c.id}${c.blocked ? ` [blocked: ${c.blocked}]` : ''}`).join('; ') : '(none)';
}

/** The ids of the applied folds, for exact assertions. */
export function appliedPatterns(r: PipelineResult): string[] {
  return r.fuse.applied.map((a) => `${a.pattern}:${a.nodes.join('+')}`);
}
