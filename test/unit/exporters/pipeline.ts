/**
 * Runs the whole pipeline on models built the way other exporters write them
 * (see ./exporterGraph): scan → fuse → ONNX Runtime on the original and the
 * fused file, same seeded inputs; and the assertions the exporter tests share.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType } from '../../../extension/engine/onnx/proto';
import { float16FromBits, float64ToBytes } from '../../../extension/engine/onnx/dtypes';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { scanModel } from '../../../extension/engine/fusion/scan';
import { fuseModelFile, type FuseFileResult } from '../../../extension/engine/fusion/fuse';
import type { Candidate, PatternName } from '../../../extension/engine/fusion/candidate';
import { randn } from '../fusion/helpers/build';
import { relativeToMax } from '../fusion/helpers/numbers';

export { randn };

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
      const data = f.dtype === DataType.FLOAT ? new Float32Array(bytes.buffer)
        : f.dtype === DataType.DOUBLE ? new Float64Array(bytes.buffer)
        : new Uint16Array(bytes.buffer);
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
