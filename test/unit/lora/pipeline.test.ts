/**
 * The streaming pipeline with an out-of-process-style backend (products
 * requested ahead, merged from a materialised product): same bytes as the
 * fused JS path, every product requested exactly once, in an order that keeps
 * at most one tensor ahead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { float16Bits, float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { buildPlan } from '../../../extension/engine/lora/plan';
import { mergeLora } from '../../../extension/engine/lora/merge';
import { JsMatmulBackend, type MatmulBackend } from '../../../extension/engine/lora/matmulBackend';
import { rand, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

/** Looks remote (not 'js'), answers asynchronously, and records what was asked when. */
class RecordingBackend implements MatmulBackend {
  readonly name = 'recording';
  readonly calls: number[] = [];
  /** For each request, how many tensors had finished merging when it was made. */
  readonly mergedWhenRequested: number[] = [];
  merged = 0;
  private readonly js = new JsMatmulBackend();
  async matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
    this.calls.push(m * n);
    this.mergedWhenRequested.push(this.merged);
    await new Promise((r) => setTimeout(r, 2));
    return this.js.matmul(a, b, m, k, n);
  }
  async dispose(): Promise<void> {}
}

test('products computed ahead by a remote-style backend give the same float16 bytes as the fused JS kernel', async () => {
  const dir = tempDir();
  const r = rand(61);
  const base: Record<string, T> = {};
  const adapter: Record<string, T> = {};
  for (let l = 0; l < 6; l++) {
    const W = r([24, 16]);
    for (let i = 0; i < W.values.length; i++) W.values[i] = float16FromBits(float16Bits(W.values[i]));
    W.dtype = 'F16';
    base[`layers.${l}.fc.weight`] = W;
    base[`layers.${l}.norm.weight`] = r([16]);
    if (l === 2) continue; // one layer without adapter
    const [A, B] = [r([4, 16]), r([24, 4])];
    for (const t of [A, B]) for (let i = 0; i < t.values.length; i++) t.values[i] = Math.round(t.values[i] * 64) / 64; // exact products
    adapter[`base_model.model.layers.${l}.fc.lora_A.weight`] = A;
    adapter[`base_model.model.layers.${l}.fc.lora_B.weight`] = B;
  }
  const basePath = path.join(dir, 'base.safetensors');
  writeSafetensors(basePath, base);
  const ad = writePeftAdapter(path.join(dir, 'a'), { r: 4, lora_alpha: 4 }, adapter);
  const outJs = path.join(dir, 'js.safetensors');
  const outRemote = path.join(dir, 'remote.safetensors');
  const recording = new RecordingBackend();
  for (const [out, backend] of [[outJs, new JsMatmulBackend()], [outRemote, recording]] as const) {
    const plan = buildPlan(basePath, [{ path: ad, weight: 1 }]);
    try {
      const onProgress = (done: number): void => {
        if (backend === recording) recording.merged = done;
      };
      const report = await mergeLora(plan, out, { backend, onProgress });
      assert.equal(report.merged.length, 5);
      assert.equal(report.tensorsWritten, 12);
    } finally {
      plan.close();
    }
  }
  assert.deepEqual(fs.readFileSync(outRemote), fs.readFileSync(outJs));
  assert.equal(recording.calls.length, 5, 'each product requested once');
  // Decided by the pipeline's order, not by timing: the first two products are asked for before
  // anything merges (the first up front, the second as the first merge starts), then product k+1
  // as tensor k starts merging, i.e. when k tensors are done — one ahead, never two.
  assert.deepEqual(recording.mergedWhenRequested, [0, 0, 1, 2, 3], 'the next tensor\'s product is requested while this one merges, and no further ahead');
});
