/**
 * Shared pieces of the lora-branch tests: a lora-branch graph writer (seeded
 * weights, outputs named after their node) on top of the tests' one ONNX
 * builder, scan + fuse of a model in memory, and an ONNX Runtime runner that
 * also takes int64 inputs (embedding ids).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { randn, type NodeSpec, type TensorSpec as FusionTensorSpec, type ValueSpec } from '../fusion/helpers/build';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue } from '../helpers/onnxBuilder';
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { bfloat16FromBits, float16FromBits, float64ToBytes } from '../../../extension/engine/onnx/dtypes';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { fuseCandidates, type FuseReport } from '../../../extension/engine/fusion/fuse';
import type { Candidate } from '../../../extension/engine/fusion/candidate';
import { tempDir } from '../helpers/fixtures';

export { randn, DataType };

// The fold tests' plain node, tensor and value records; a lora-branch tensor always names its dtype.
export type { NodeSpec, ValueSpec };
export interface TensorSpec extends FusionTensorSpec {
  dtype: number;
}

/**
 * Builds a graph node by node; outputs are named after the node. Nodes and
 * tensors stay plain records (tests edit them, read the values back) until
 * `model()` makes the ONNX model: Constant nodes (`const_<name>`) first, then
 * the nodes, graph 'g', IR 8, opset 17 unless given.
 */
export class GraphSpec {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  readonly constants: TensorSpec[] = [];
  private seed = 1;

  constructor(readonly dtype: number = DataType.FLOAT) {}

  op(op: string, name: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1): string {
    const outs = Array.from({ length: outputs }, (_, i) => (i === 0 ? `${name}_out` : `${name}_out${i}`));
    this.nodes.push({ op, name, inputs, outputs: outs, attrs });
    return outs[0];
  }

  /** A float initializer with seeded normal values (scaled), returned values in float64. */
  weight(name: string, dims: number[], scale = 0.3, dtype = this.dtype): Float64Array {
    const values = randn(dims.reduce((a, b) => a * b, 1), this.seed++ * 7919, scale);
    const rounded = roundTo(values, dtype);
    this.initializers.push({ name, dims, values: rounded, dtype });
    return rounded;
  }

  init(name: string, dims: number[], values: ArrayLike<number>, dtype = this.dtype): string {
    this.initializers.push({ name, dims, values, dtype });
    return name;
  }

  constant(name: string, dims: number[], values: ArrayLike<number>, dtype = this.dtype): string {
    this.constants.push({ name, dims, values, dtype });
    return name;
  }

  model(inputs: ValueSpec[], outputs: ValueSpec[], extra: { opset?: number } = {}): Uint8Array {
    const tensor = (t: TensorSpec) => makeTensor(t.name, t.dtype, t.dims, t.values);
    const valueInfo = (v: ValueSpec) => makeValueInfo(v.name, v.dtype ?? DataType.FLOAT, v.dims);
    const graph = makeGraph(
      [
        ...this.constants.map((t) => makeNode('Constant', [], [t.name], `const_${t.name}`, { value: { tensor: tensor(t) } }, { domain: '' })),
        ...this.nodes.map((n) => makeNode(n.op, n.inputs, n.outputs, n.name, n.attrs, { domain: '' })),
      ],
      'g',
      inputs.map(valueInfo),
      outputs.map(valueInfo),
      this.initializers.map(tensor),
    );
    return encodeModel(makeModel(graph, { opset: extra.opset ?? 17 }));
  }
}

/** Values as the dtype stores them (what the model really holds). */
export function roundTo(values: Float64Array, dtype: number): Float64Array {
  if (dtype === DataType.DOUBLE) return values;
  const bytes = float64ToBytes(values, dtype);
  if (dtype === DataType.FLOAT) return Float64Array.from(new Float32Array(bytes.buffer));
  return Float64Array.from(new Uint16Array(bytes.buffer), dtype === DataType.BFLOAT16 ? bfloat16FromBits : float16FromBits);
}

export interface Folded {
  candidates: Candidate[];
  report: FuseReport;
  model: OnnxModel;
  bytes: Uint8Array;
}

/** scan + fuse (every default fold) in memory; `bytes` is the fused model. */
export function scanAndFuse(bytes: Uint8Array, name = 'model.onnx'): Folded {
  const dir = tempDir('lora-branch-');
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  const model = OnnxModel.load(file);
  const candidates = scanModel(model).candidates;
  const report = fuseCandidates(model, candidates);
  return { candidates, report, model, bytes: onnx.ModelProto.encode(model.proto).finish() };
}

export function loraCandidates(candidates: Candidate[]): Candidate[] {
  return candidates.filter((c) => c.pattern === 'lora-branch');
}

export interface Feed {
  dims: number[];
  values: ArrayLike<number>;
  dtype?: number;
}

/** Runs model bytes in ONNX Runtime (optimizations off, so ORT's own fusions hide nothing); outputs as float64. */
export async function run(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Record<string, Float64Array>> {
  const session = await ort.InferenceSession.create(Buffer.from(bytes), { graphOptimizationLevel: 'disabled' });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const dtype = f.dtype ?? DataType.FLOAT;
      if (dtype === DataType.INT64) {
        ortFeeds[name] = new ort.Tensor('int64', BigInt64Array.from(Array.from(f.values, (v) => BigInt(v))), f.dims);
        continue;
      }
      const raw = float64ToBytes(f.values, dtype);
      const data = dtype === DataType.FLOAT ? new Float32Array(raw.buffer) : new Uint16Array(raw.buffer);
      ortFeeds[name] = new ort.Tensor(dtype === DataType.FLOAT ? 'float32' : 'float16', data, f.dims);
    }
    const results = await session.run(ortFeeds);
    const out: Record<string, Float64Array> = {};
    for (const [name, t] of Object.entries(results)) {
      const data = t.data as ArrayLike<number>;
      out[name] = t.type === 'float16' ? Float64Array.from(data as Uint16Array, float16FromBits) : Float64Array.from(data);
    }
    return out;
  } finally {
    await session.release();
  }
}

export function opCount(bytesOrModel: Uint8Array | OnnxModel, ...ops: string[]): number {
  const graph = bytesOrModel instanceof OnnxModel ? bytesOrModel.graph : onnx.ModelProto.decode(bytesOrModel).graph!;
  return (graph.node ?? []).filter((n) => ops.includes(n.op_type ?? '')).length;
}

export function initializer(model: OnnxModel, name: string): Float64Array {
  const t = model.graph.initializer.find((x) => x.name === name);
  if (!t) throw new Error(`no initializer '${name}' (have ${model.graph.initializer.map((x) => x.name).join(', ')})`);
  return model.tensorValues(t);
}

/** [m,k]·[k,n] in float64, the plain way (an independent reference for the fold's own product). */
export function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
    out[i * n + j] = s;
  }
  return out;
}

export function transpose2(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/**
 * max |a − b| / max |b|: how far two float32 runs of the same function drift
 * apart relative to the output's scale. The unmerged graph rounds B·A·x in
 * steps and the merged one rounds W'·x, so entries that cancel to nearly zero
 * differ by a few ulps of the larger terms, not of the tiny result.
 */
export function scaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
