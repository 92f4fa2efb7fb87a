/**
 * Small, real ONNX models for fold tests, as editable specs built with the
 * one test builder (helpers/onnxBuilder.ts), and ONNX Runtime to run them,
 * so fold edge cases the fixtures do not cover are checked against the real
 * runtime.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, type onnx } from '../../../../extension/engine/onnx/proto';
import { bytesToFloat64, float16FromBits, float64ToBytes, numElements } from '../../../../extension/engine/onnx/dtypes';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue } from '../../helpers/onnxBuilder';
import { OnnxModel } from '../../../../extension/engine/onnx/model';
import type { Candidate, PatternName } from '../../../../extension/engine/fusion/candidate';
import { mulberry32 } from '../../helpers/random';

export type { AttrValue };

export interface NodeSpec {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

export interface TensorSpec {
  name: string;
  dims: number[];
  values: ArrayLike<number>;
  dtype?: number;
}

export interface ValueSpec {
  name: string;
  dims?: (number | string)[];
  dtype?: number;
}

export interface ModelSpec {
  opset?: number;
  irVersion?: number;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: TensorSpec[];
  /** Tensors stored as `Constant` nodes (placed first) instead of initializers. */
  constants?: TensorSpec[];
  valueInfo?: ValueSpec[];
  metadata?: Record<string, string>;
}

export function tensor(spec: TensorSpec): onnx.TensorProto {
  return makeTensor(spec.name, spec.dtype ?? DataType.FLOAT, spec.dims, spec.values);
}

function valueInfo(v: ValueSpec): onnx.ValueInfoProto {
  return makeValueInfo(v.name, v.dtype ?? DataType.FLOAT, v.dims);
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const constantNodes = (spec.constants ?? []).map((t) => makeNode('Constant', [], [t.name], `const_${t.name}`, { value: { tensor: tensor(t) } }));
  const nodes = spec.nodes.map((n) => makeNode(n.op, n.inputs, n.outputs, n.name, n.attrs, { domain: '' }));
  const graph = makeGraph(
    [...constantNodes, ...nodes],
    'g',
    spec.inputs.map(valueInfo),
    spec.outputs.map(valueInfo),
    (spec.initializers ?? []).map(tensor),
    (spec.valueInfo ?? []).map(valueInfo),
  );
  return encodeModel(makeModel(graph, { irVersion: spec.irVersion ?? 8, opset: spec.opset ?? 17, metadata: spec.metadata ?? {} }));
}

export function writeModel(dir: string, name: string, spec: ModelSpec): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, buildModel(spec));
  return file;
}

export function loadModel(file: string): OnnxModel {
  return OnnxModel.load(file);
}

/** A hand-made candidate (until/besides scan): node names in data-flow order. */
export function candidate(pattern: PatternName, nodes: string[], modules?: (string | null)[], extra: Partial<Candidate> = {}): Candidate {
  return {
    id: `${pattern}:${nodes[0]}`,
    pattern,
    nodes,
    modules: modules ?? nodes.map(() => null),
    folds: !['conv-relu', 'linear-relu', 'bn-relu'].includes(pattern),
    blocked: null,
    warnings: [],
    ...extra,
  };
}

/** Deterministic pseudo-random numbers (mulberry32 + Box-Muller): reproducible tests without fixtures. */
export function randn(count: number, seed: number, scale = 1, offset = 0): Float64Array {
  const uniform = mulberry32(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(uniform(), 1e-12);
    out[i] = offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

export function positive(count: number, seed: number): Float64Array {
  return randn(count, seed).map((v) => 0.5 + Math.abs(v));
}

const ORT_TYPES: Record<number, ort.Tensor.Type> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.FLOAT16]: 'float16',
};

/** Runs a model file in ONNX Runtime (graph optimizations off) and returns every output as float64. */
export async function runOrt(
  file: string,
  feeds: Record<string, { dims: number[]; values: ArrayLike<number>; dtype?: number }>,
): Promise<Record<string, Float64Array>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const dtype = f.dtype ?? DataType.FLOAT;
      const bytes = float64ToBytes(f.values, dtype);
      const data = dtype === DataType.FLOAT ? new Float32Array(bytes.buffer)
        : dtype === DataType.DOUBLE ? new Float64Array(bytes.buffer)
        : new Uint16Array(bytes.buffer);
      ortFeeds[name] = new ort.Tensor(ORT_TYPES[dtype], data, f.dims);
    }
    const results = await session.run(ortFeeds);
    const out: Record<string, Float64Array> = {};
    for (const [name, t] of Object.entries(results)) {
      const data = t.data as ArrayLike<number>;
      out[name] = t.type === 'float16' && data instanceof Uint16Array ? Float64Array.from(data, float16FromBits) : Float64Array.from(data);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** The float64 values of a named initializer (or Constant) in a loaded model. */
export function initializerValues(model: OnnxModel, name: string): Float64Array {
  const t = model.graph.initializer.find((x) => x.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  return model.tensorValues(t);
}

export function countOps(model: OnnxModel, op: string): number {
  return model.graph.node.filter((n) => n.op_type === op).length;
}

export { bytesToFloat64, numElements, DataType };
