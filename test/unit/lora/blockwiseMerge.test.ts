/**
 * The streaming merge (issue 17): a plain single-term LoRA tensor is read, merged and written one
 * block of rows at a time. Its bytes must be exactly the whole-tensor merge's (ONNX Runtime float32:
 * within its kernels' last-bit differences), with the JavaScript kernel and with ONNX Runtime's fused
 * merge, for float16, bfloat16 and float32, for block sizes that do not divide the rows; the norms of
 * the report must be the whole tensor's; a NaN/overflow must name its index in the whole tensor. And
 * through `mergeLora`, a tensor of several blocks merges to the same file a whole merge writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType } from '../../../extension/engine/onnx/dtypes';
import { ModelFuseError } from '../../../extension/engine/errors';
import { mergeInRowBlocks, BLOCK_BYTES } from '../../../extension/engine/lora/blockwiseMerge';
import { fusedMergeSingle, NonFiniteError } from '../../../extension/engine/lora/fusedMerge';
import { mergeSingleByBackend } from '../../../extension/engine/lora/backendMerge';
import { FusedMergeBackend, JsMatmulBackend, type MatmulBackend } from '../../../extension/engine/lora/matmulBackend';
import { BufferPool } from '../../../extension/engine/lora/bufferPool';
import { float64ToBfloat16Bits, float64ToHalfBits } from '../../../extension/engine/lora/halfFloat';
import { buildPlan } from '../../../extension/engine/lora/plan';
import { mergeLora } from '../../../extension/engine/lora/merge';
import { ortFusedMerge } from '../../../extension/workerProcess/ort/loraMergeGraph';
import { matmulF32 } from '../../../extension/workerProcess/ort/ortMatmul';
import { tempDir } from '../helpers/fixtures';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { rand, writePeftAdapter, writeSafetensors } from './loraTestUtils';

const ort = (): MatmulBackend => new FusedMergeBackend(matmulF32, ortFusedMerge);

function baseBytes(dtype: number, values: Float64Array): Uint8Array {
  if (dtype === DataType.FLOAT) return new Uint8Array(Float32Array.from(values).buffer);
  const bits = Uint16Array.from(values, (v) => (dtype === DataType.FLOAT16 ? float64ToHalfBits(v) : float64ToBfloat16Bits(v)));
  return new Uint8Array(bits.buffer);
}

async function blockwise(
  backend: MatmulBackend,
  base: Uint8Array,
  dtype: number,
  L: Float32Array,
  R: Float32Array,
  m: number,
  k: number,
  n: number,
  scale: number,
  blockBytes: number,
) {
  const size = dtype === DataType.FLOAT ? 4 : 2;
  const parts: Uint8Array[] = [];
  let norms: [number, number] | undefined;
  const source = {
    readRows: async (r0: number, r1: number, into: Uint8Array) => {
      into.set(base.subarray(r0 * n * size, r1 * n * size));
      return into;
    },
    done: (baseNorm: number, deltaNorm: number) => (norms = [baseNorm, deltaNorm]),
  };
  const blocks = mergeInRowBlocks({ L, R, m, k, n, scale }, dtype, size, source, backend, new BufferPool(2), undefined, blockBytes);
  for await (const b of blocks) parts.push(Uint8Array.from(b));
  return { bytes: Buffer.concat(parts), blocks: parts.length, norms: norms! };
}

test('blockwise merge: the same bytes and norms as the whole tensor, JavaScript and ONNX Runtime, float16/bfloat16/float32, ragged blocks', async () => {
  const m = 37;
  const k = 4;
  const n = 24;
  const r = rand(11);
  const W = r([m, n], 2).values;
  const L = Float32Array.from(r([m, k]).values);
  const R = Float32Array.from(r([k, n]).values);
  for (const dtype of [DataType.FLOAT16, DataType.BFLOAT16, DataType.FLOAT]) {
    const base = baseBytes(dtype, W);
    for (const [name, backend] of [['js', new JsMatmulBackend()], ['ort', ort()]] as [string, MatmulBackend][]) {
      const whole = backend.mergeSingle
        ? (await mergeSingleByBackend(backend, Uint8Array.from(base), dtype, L, R, m, k, n, 0.75))!
        : fusedMergeSingle(Uint8Array.from(base), dtype, L, R, m, k, n, 0.75);
      for (const rowsPerBlock of [1, 5, 36, 37]) {
        const got = await blockwise(backend, base, dtype, L, R, m, k, n, 0.75, rowsPerBlock * n * (dtype === DataType.FLOAT ? 4 : 2));
        const what = `${name}, dtype ${dtype}, ${rowsPerBlock} rows per block`;
        assert.equal(got.blocks, Math.ceil(m / rowsPerBlock), what);
        if (name === 'ort' && dtype === DataType.FLOAT) {
          // MLAS picks its kernel by the number of rows (a GEMV for one row), so float32 sums may differ in the last
          // bit between block sizes — as they already do between ONNX Runtime's own blocks; rounded to 16 bits they agree here.
          const a = new Float32Array(Uint8Array.from(whole.bytes).buffer);
          const b = new Float32Array(Uint8Array.from(got.bytes).buffer);
          // (to the float32 precision of the terms summed, |W| ≤ 2 here, not of a result that may cancel)
          for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 2 * 2 * 2 ** -23 * 4, `${what}: value ${i} ${b[i]} vs ${a[i]}`);
        } else {
          assert.ok(Buffer.from(whole.bytes).equals(got.bytes), `${what}: bytes differ from the whole-tensor merge`);
        }
        // ONNX Runtime sums W² in float32 chunks, which the block boundaries move: equal to float32 precision.
        assert.ok(Math.abs(got.norms[0] / whole.baseNorm - 1) < 1e-6, `${what}: ‖W‖ ${got.norms[0]} vs ${whole.baseNorm}`);
        assert.ok(Math.abs(got.norms[1] / whole.deltaNorm - 1) < 1e-9, `${what}: ‖ΔW‖`);
      }
    }
  }
});

test('blockwise merge: an overflow in a later block names its index in the whole tensor', async () => {
  const m = 6;
  const n = 4;
  const W = new Float64Array(m * n).fill(1);
  W[4 * n + 2] = 65504; // row 4, in the third block of two rows
  const L = new Float32Array(m).fill(1);
  const R = new Float32Array(n).fill(100);
  await assert.rejects(blockwise(new JsMatmulBackend(), baseBytes(DataType.FLOAT16, W), DataType.FLOAT16, L, R, m, 1, n, 1, 2 * n * 2), (e: Error) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.index, 4 * n + 2);
    return true;
  });
});

test('mergeLora streams a tensor of several blocks to the same file as a whole-tensor merge, and says where a NaN is', async () => {
  const dir = tempDir();
  const r = rand(5);
  // 2.5 blocks of float16 rows: 5 MiB per 1280 rows of 2048.
  const rows = Math.ceil((2.5 * BLOCK_BYTES) / (2048 * 2));
  const base = path.join(dir, 'base.safetensors');
  writeSafetensors(base, { 'm.fc.weight': { ...r([rows, 2048], 1), dtype: 'F16' }, 'm.other.weight': r([8, 8]) });
  const adapter = writePeftAdapter(path.join(dir, 'adapter'), { r: 4, lora_alpha: 8, target_modules: ['fc'] }, {
    'base_model.model.m.fc.lora_A.weight': r([4, 2048], 0.05),
    'base_model.model.m.fc.lora_B.weight': r([rows, 4], 0.05),
  });
  const out = path.join(dir, 'streamed.safetensors');
  const plan = buildPlan(base, [{ path: adapter, weight: 1 }]);
  let report;
  try {
    report = await mergeLora(plan, out, { backend: new JsMatmulBackend() });
  } finally {
    plan.close();
  }
  // The whole-tensor merge of the same term, by hand.
  const bytes = fs.readFileSync(base);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const [b0, b1] = header['m.fc.weight'].data_offsets;
  const W = Uint8Array.from(bytes.subarray(8 + headerLength + b0, 8 + headerLength + b1));
  const readF32 = (name: string, shape: number[]) => {
    const a = fs.readFileSync(path.join(adapter, 'adapter_model.safetensors'));
    const hl = Number(a.readBigUInt64LE(0));
    const h = JSON.parse(a.subarray(8, 8 + hl).toString('utf8'));
    const [s0, s1] = h[name].data_offsets;
    const v = new Float32Array(Uint8Array.from(a.subarray(8 + hl + s0, 8 + hl + s1)).buffer);
    assert.equal(v.length, shape[0] * shape[1]);
    return v;
  };
  const B = readF32('base_model.model.m.fc.lora_B.weight', [rows, 4]);
  const A = readF32('base_model.model.m.fc.lora_A.weight', [4, 2048]);
  const whole = fusedMergeSingle(W, DataType.FLOAT16, B, A, rows, 4, 2048, 2);
  const outBytes = fs.readFileSync(out);
  const ol = Number(outBytes.readBigUInt64LE(0));
  const oh = JSON.parse(outBytes.subarray(8, 8 + ol).toString('utf8'));
  const [o0, o1] = oh['m.fc.weight'].data_offsets;
  assert.ok(Buffer.from(whole.bytes).equals(outBytes.subarray(8 + ol + o0, 8 + ol + o1)), 'the streamed tensor is the whole-tensor merge');
  assert.equal(report.merged.length, 1);
  assert.ok(Math.abs(report.merged[0].delta_fro / whole.deltaNorm - 1) < 1e-9, 'the report’s ‖ΔW‖ is the whole tensor’s');
  assert.ok(Math.abs(report.merged[0].rel_change / (whole.deltaNorm / whole.baseNorm) - 1) < 1e-9);

  // A NaN in the last block of the base: the merge stops naming the tensor and the index; nothing is written.
  const poisoned = Buffer.from(bytes);
  const at = 8 + headerLength + b0 + (rows * 2048 - 3) * 2;
  poisoned.writeUInt16LE(0x7e00, at); // float16 NaN
  fs.writeFileSync(path.join(dir, 'poisoned.safetensors'), poisoned);
  const bad = buildPlan(path.join(dir, 'poisoned.safetensors'), [{ path: adapter, weight: 1 }]);
  try {
    await assert.rejects(mergeLora(bad, path.join(dir, 'bad.safetensors'), { backend: new JsMatmulBackend() }), (e: Error) =>
      e instanceof ModelFuseError && new RegExp(`merged tensor 'm\\.fc\\.weight' value ${rows * 2048 - 3} is NaN.*nothing was written`).test(e.message));
  } finally {
    bad.close();
  }
  assert.ok(!fs.existsSync(path.join(dir, 'bad.safetensors')));
});

test('mergeLora into an ONNX base with external data streams the tensor in blocks: the same bytes as the embedded (whole-tensor) merge', async () => {
  const dir = tempDir();
  const r = rand(9);
  const out = 3000; // [in, out] float16 = 12 MB: two blocks of rows and a part
  const values = r([2048, out], 1).values;
  const model = (name: string) =>
    makeModel(makeGraph(
      [makeNode('Gemm', ['x', 'onnx::Gemm_1'], ['y'], '/fc/Gemm', { transB: 0 })],
      'g',
      [makeValueInfo('x', DataType.FLOAT16, [1, 2048])],
      [makeValueInfo('y', DataType.FLOAT16, [1, out])],
      [makeTensor('onnx::Gemm_1', DataType.FLOAT16, [2048, out], values)],
    ), { producerName: name });
  const external = writeModel(path.join(dir, 'ext', 'base.onnx'), model('external'), { location: 'base.onnx.data', names: ['onnx::Gemm_1'] });
  const embedded = writeModel(path.join(dir, 'emb', 'base.onnx'), model('embedded'));
  const adapter = writePeftAdapter(path.join(dir, 'adapter'), { r: 4, lora_alpha: 4, target_modules: ['fc'] }, {
    'base_model.model.fc.lora_A.weight': r([4, 2048], 0.05),
    'base_model.model.fc.lora_B.weight': r([out, 4], 0.05),
  });
  const merged: Uint8Array[] = [];
  for (const base of [external, embedded]) {
    const plan = buildPlan(base, [{ path: adapter, weight: 1 }]);
    const target = path.join(path.dirname(base), 'merged.onnx');
    try {
      assert.deepEqual(plan.errors, []);
      await mergeLora(plan, target, { backend: new JsMatmulBackend() });
    } finally {
      plan.close();
    }
    const m = OnnxModel.load(target);
    try {
      merged.push(Uint8Array.from(m.tensorBytes(m.graph.initializer!.find((t) => t.name === 'onnx::Gemm_1')!)));
    } finally {
      m.close();
    }
  }
  assert.ok(Buffer.from(merged[0]).equals(merged[1]), 'the streamed external tensor equals the whole-tensor merge');
  assert.ok(!Buffer.from(merged[0]).equals(Buffer.from(Uint16Array.from(values, float64ToHalfBits).buffer)), 'the tensor changed');
});
