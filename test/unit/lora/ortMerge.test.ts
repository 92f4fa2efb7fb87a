/**
 * The whole-tensor merge inside ONNX Runtime (workerProcess/ort/loraMergeGraph.ts +
 * engine/lora/backendMerge.ts), checked against float64 arithmetic written
 * from the formula.
 *
 * The rule of this path: the product, the scaling and the sum are float32
 * (MLAS), and the float32 sum is rounded ONCE to the base dtype, to nearest
 * even. A float32 sum is within δ = (k+2)·2⁻²⁴·(|W| + |s|·Σ|L||R|) of the exact
 * value, and rounding is monotone, so every output must lie between the
 * roundings of exact−δ and exact+δ — and equal the rounding of the exact value
 * wherever those two agree (almost everywhere; the tests demand ≥ 99 %).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { bfloat16Bits, bfloat16FromBits, DataType, float16Bits, float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { CancelledError, ModelFuseError } from '../../../extension/engine/errors';
import { buildPlan } from '../../../extension/engine/lora/plan';
import { mergeLora } from '../../../extension/engine/lora/merge';
import { FusedMergeBackend, JsMatmulBackend, type MatmulBackend } from '../../../extension/engine/lora/matmulBackend';
import { cannotOverflow, firstNonFinite, mergeSingleByBackend, productNorm } from '../../../extension/engine/lora/backendMerge';
import { OVERFLOW_LIMIT } from '../../../extension/engine/lora/fusedMerge';
import { BufferPool } from '../../../extension/engine/lora/bufferPool';
import { ortFusedMerge } from '../../../extension/workerProcess/ort/loraMergeGraph';
import { float64ToBfloat16Bits, float64ToHalfBits } from '../../../extension/engine/lora/halfFloat';
import { matmulF32 } from '../../../extension/workerProcess/ort/ortMatmul';
import { setIntraOpThreads } from '../../../extension/workerProcess/ort/runtime';
import { WorkerClient } from '../../../extension/workerClient/client';
import { rand, readAll, writePeftAdapter, writeSafetensors, type T } from './loraTestUtils';

setIntraOpThreads(1); // the test machine is shared

const ort = (): MatmulBackend => new FusedMergeBackend(matmulF32, ortFusedMerge);

interface Case {
  W: Float64Array;
  L: Float32Array;
  R: Float32Array;
  m: number;
  k: number;
  n: number;
  s: number;
}

function randomCase(seed: number, m: number, k: number, n: number, s: number, round: (x: number) => number): Case {
  const r = rand(seed);
  const W = r([m, n], 2).values.map(round);
  return { W, L: Float32Array.from(r([m, k], 0.5).values), R: Float32Array.from(r([k, n], 0.5).values), m, k, n, s };
}

/** Exact W + s·L·R and the float32 error bound δ of each value. */
function exactAndBound(c: Case): { exact: Float64Array; delta: Float64Array } {
  const exact = new Float64Array(c.m * c.n);
  const delta = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let p = 0;
      let mag = 0;
      for (let t = 0; t < c.k; t++) {
        p += c.L[i * c.k + t] * c.R[t * c.n + j];
        mag += Math.abs(c.L[i * c.k + t] * c.R[t * c.n + j]);
      }
      const at = i * c.n + j;
      exact[at] = c.W[at] + c.s * p;
      delta[at] = (c.k + 2) * 2 ** -24 * (Math.abs(c.W[at]) + Math.abs(c.s) * mag);
    }
  }
  return { exact, delta };
}

function encode(values: Float64Array, dtype: number): Uint8Array {
  if (dtype === DataType.FLOAT) return new Uint8Array(Float32Array.from(values).buffer);
  const enc = dtype === DataType.FLOAT16 ? float16Bits : bfloat16Bits;
  return new Uint8Array(Uint16Array.from(values, enc).buffer);
}

/** Checks the rule above for a 16-bit result; returns the share of values pinned to one answer. */
function assertRoundedOnce(out: Uint8Array, c: Case, dtype: number): number {
  const bits = new Uint16Array(out.buffer, out.byteOffset, c.m * c.n);
  // (halfFloat's fast encoders: bit-identical to dtypes.ts's exact ones, see halfFloat.test.ts)
  const enc = dtype === DataType.FLOAT16 ? float64ToHalfBits : float64ToBfloat16Bits;
  const dec = dtype === DataType.FLOAT16 ? float16FromBits : bfloat16FromBits;
  const { exact, delta } = exactAndBound(c);
  let pinned = 0;
  for (let x = 0; x < exact.length; x++) {
    const lo = enc(exact[x] - delta[x]);
    const hi = enc(exact[x] + delta[x]);
    if (lo === hi) {
      pinned++;
      if (bits[x] !== enc(exact[x])) assert.fail(`value ${x}: exact ${exact[x]}, got ${dec(bits[x])}`);
    } else {
      const v = dec(bits[x]);
      if (!(v >= dec(lo) && v <= dec(hi))) assert.fail(`value ${x}: exact ${exact[x]} ± ${delta[x]}, got ${v}`);
    }
  }
  return pinned / exact.length;
}

test('float16 base in ORT: float32 sum rounded once to nearest even (checked against float64, several row blocks)', async () => {
  // 160 × 4096 = 655 360 values: two ORT runs of the row-blocked graph (2¹⁹ values each).
  const c = randomCase(11, 160, 7, 4096, 0.37, (x) => float16FromBits(float16Bits(x)));
  const r = await mergeSingleByBackend(ort(), encode(c.W, DataType.FLOAT16), DataType.FLOAT16, c.L, c.R, c.m, c.k, c.n, c.s);
  assert.ok(r, 'ORT handles float16');
  assert.ok(assertRoundedOnce(r.bytes, c, DataType.FLOAT16) > 0.99);
  // The report: ‖W‖ from ORT's chunked float32 sums, ‖ΔW‖ from the Gram matrices, against plain float64 sums.
  let wsq = 0;
  for (const w of c.W) wsq += w * w;
  const { exact } = exactAndBound(c);
  let dsq = 0;
  for (let x = 0; x < exact.length; x++) dsq += (exact[x] - c.W[x]) ** 2;
  assert.ok(Math.abs(r.baseNorm / Math.sqrt(wsq) - 1) < 1e-6, `‖W‖ ${r.baseNorm} vs ${Math.sqrt(wsq)}`);
  assert.ok(Math.abs(r.deltaNorm / Math.sqrt(dsq) - 1) < 1e-9, `‖ΔW‖ ${r.deltaNorm} vs ${Math.sqrt(dsq)}`);
});

test('float16 ties in ORT: exactly half-way sums go to the even neighbour, anything above goes up (one rounding)', async () => {
  // Rank 1, L = 1: out[j] = W[j] + R[j]; every sum is exact in float32, so the result is decided by the final Cast alone.
  const W = [1, 1 + 2 ** -10, -1, 1, 2048, 2048, 0.5, 1 + 2 ** -10];
  const D = [2 ** -11, 2 ** -11, -(2 ** -11), 2 ** -11 + 2 ** -22, 1, 3, 2 ** -12, -(2 ** -11)];
  const c: Case = { W: Float64Array.from(W), L: new Float32Array([1]), R: Float32Array.from(D), m: 1, k: 1, n: W.length, s: 1 };
  const r = await mergeSingleByBackend(ort(), encode(c.W, DataType.FLOAT16), DataType.FLOAT16, c.L, c.R, 1, 1, W.length, 1);
  const got = [...new Uint16Array(r!.bytes.buffer)].map(float16FromBits);
  assert.deepEqual(got, [1, 1 + 2 ** -9, -1, 1 + 2 ** -10, 2048, 2052, 0.5, 1]);
  assert.deepEqual(got, W.map((w, i) => float16FromBits(float16Bits(w + D[i]))), 'the same as rounding the exact sum once');
});

test('bfloat16 and float32 bases in ORT follow the same rule; float64 is left to the JavaScript path', async () => {
  const b = randomCase(12, 33, 5, 65, -1.5, (x) => bfloat16FromBits(bfloat16Bits(x)));
  const rb = await mergeSingleByBackend(ort(), encode(b.W, DataType.BFLOAT16), DataType.BFLOAT16, b.L, b.R, b.m, b.k, b.n, b.s);
  assert.ok(assertRoundedOnce(rb!.bytes, b, DataType.BFLOAT16) > 0.99);

  const f = randomCase(13, 31, 9, 67, 2.25, Math.fround);
  const rf = await mergeSingleByBackend(ort(), encode(f.W, DataType.FLOAT), DataType.FLOAT, f.L, f.R, f.m, f.k, f.n, f.s);
  const got = new Float32Array(rf!.bytes.buffer);
  const { exact, delta } = exactAndBound(f);
  for (let x = 0; x < exact.length; x++) assert.ok(Math.abs(got[x] - exact[x]) <= delta[x], `value ${x}: ${got[x]} vs ${exact[x]}`);

  // Finite float32 values whose squares overflow: no bound proves the result finite, the scan then clears it.
  const big = { W: Float64Array.from([3e38, 3e38, 3e38, -1]), L: new Float32Array([1, 1]), R: new Float32Array([0.5, 0]) };
  const rbig = await ortFusedMerge({ base: encode(big.W, DataType.FLOAT), dtype: DataType.FLOAT, L: big.L, R: big.R, m: 2, k: 1, n: 2, scale: 1 });
  assert.equal(rbig?.squares.largest, Infinity, 'the chunk sum of squares overflowed');
  const merged = await mergeSingleByBackend(ort(), encode(big.W, DataType.FLOAT), DataType.FLOAT, big.L, big.R, 2, 1, 2, 1);
  // W + [[1], [1]]·[[0.5, 0]]: +0.5 vanishes next to 3e38 in float32; -1 + 0 stays -1.
  assert.deepEqual([...new Float32Array(merged!.bytes.buffer)], [3e38, 3e38, 3e38, -1].map(Math.fround));

  const doubleRequest = { base: new Uint8Array(8), dtype: DataType.DOUBLE, L: new Float32Array(1), R: new Float32Array(1), m: 1, k: 1, n: 1, scale: 1 };
  assert.equal(await ortFusedMerge(doubleRequest), null);
});

test('cannotOverflow: proves typical merges finite from bounds, refuses near the limit or with NaN/Inf anywhere', () => {
  const L = new Float32Array([0.5, -0.25, 1, 0]); // [2, 2]
  const R = new Float32Array([1, -2, 0.5, 3, 0, -1]); // [2, 3]: row maxima 2 and 3
  // D = max(0.5·2 + 0.25·3, 1·2 + 0) = 2; with s = 4 the delta is at most 8.
  const limit = OVERFLOW_LIMIT[DataType.FLOAT16];
  assert.equal(cannotOverflow(65504 ** 2, L, R, 2, 2, 3, 1, limit), true, '65504 + 2 < 65520');
  assert.equal(cannotOverflow(65504 ** 2, L, R, 2, 2, 3, 4, limit), true, '65504 + 8 < 65520');
  assert.equal(cannotOverflow(65504 ** 2, L, R, 2, 2, 3, -8, limit), false, '65504 + 16 reaches the limit');
  assert.equal(cannotOverflow(NaN, L, R, 2, 2, 3, 1, limit), false);
  assert.equal(cannotOverflow(Infinity, L, R, 2, 2, 3, 1, limit), false);
  assert.equal(cannotOverflow(1, L, Float32Array.from([1, NaN, 0, 0, 0, 0]), 2, 2, 3, 1, limit), false);
  assert.equal(cannotOverflow(1, Float32Array.from([NaN, 0, 0, 0]), R, 2, 2, 3, 1, limit), false);
  assert.equal(cannotOverflow(1, L, R, 2, 2, 3, 1, undefined), false, 'unknown dtype');
});

test('non-finite scan: finds NaN/Inf at any position, odd counts and unaligned bytes; ‖L·R‖ from Gram matrices', () => {
  for (const dtype of [DataType.FLOAT16, DataType.BFLOAT16]) {
    const inf = dtype === DataType.FLOAT16 ? 0x7c00 : 0x7f80;
    for (const count of [1, 2, 7, 1000]) {
      for (const at of [0, count >> 1, count - 1]) {
        for (const offset of [0, 2, 1]) {
          const buf = new Uint8Array(offset + 2 * count);
          const words = new Uint16Array(count).fill(dtype === DataType.FLOAT16 ? 0x7bff : 0x7f7f); // the largest finite values
          words[at] = at % 2 ? inf | 0x8000 : inf | 1; // -Inf or a NaN
          buf.set(new Uint8Array(words.buffer), offset);
          assert.equal(firstNonFinite(buf.subarray(offset), dtype, count), at, `dtype ${dtype} count ${count} at ${at} offset ${offset}`);
          words[at] = 0;
          buf.set(new Uint8Array(words.buffer), offset);
          assert.equal(firstNonFinite(buf.subarray(offset), dtype, count), -1);
        }
      }
    }
  }
  const f = new Float32Array([1, 3.4e38, -Infinity, NaN]);
  assert.equal(firstNonFinite(new Uint8Array(f.buffer), DataType.FLOAT, 4), 2);
  assert.equal(firstNonFinite(new Uint8Array(f.buffer), DataType.FLOAT, 2), -1);

  const c = randomCase(14, 17, 6, 23, 1, (x) => x);
  let sq = 0;
  for (let i = 0; i < c.m; i++) for (let j = 0; j < c.n; j++) {
    let p = 0;
    for (let t = 0; t < c.k; t++) p += c.L[i * c.k + t] * c.R[t * c.n + j];
    sq += p * p;
  }
  assert.ok(Math.abs(productNorm(c.L, c.R, c.m, c.k, c.n) / Math.sqrt(sq) - 1) < 1e-12);
});

/** A safetensors base with float16, bfloat16, float32 and float64 targets, and a PEFT adapter on all four. */
function mixedBase(dir: string, poison?: { tensor: string; index: number; value: number }): { base: string; adapter: string } {
  const r = rand(21);
  const dtypes = { a: 'F16', b: 'BF16', c: 'F32', d: 'F64' } as const;
  const base: Record<string, T> = {};
  const ad: Record<string, T> = {};
  for (const [name, dtype] of Object.entries(dtypes)) {
    const W = r([48, 40], 1);
    if (poison?.tensor === name) W.values[poison.index] = poison.value;
    base[`model.${name}.weight`] = { ...W, dtype };
    ad[`base_model.model.model.${name}.lora_A.weight`] = r([4, 40], 0.5);
    ad[`base_model.model.model.${name}.lora_B.weight`] = r([48, 4], 0.5);
  }
  base['model.norm.weight'] = { ...r([40], 1), dtype: 'F16' };
  writeSafetensors(path.join(dir, 'base.safetensors'), base, { format: 'pt' });
  writePeftAdapter(path.join(dir, 'adapter'), { r: 4, lora_alpha: 6, target_modules: ['a', 'b', 'c', 'd'] }, ad);
  return { base: path.join(dir, 'base.safetensors'), adapter: path.join(dir, 'adapter') };
}

/** `count` float16 64×64 targets; with `untouched`, a same-sized tensor no adapter touches after each. */
function manyTensors(dir: string, count: number, untouched = false): { base: string; adapter: string } {
  fs.mkdirSync(dir, { recursive: true });
  const r = rand(31);
  const base: Record<string, T> = {};
  const ad: Record<string, T> = {};
  for (let i = 0; i < count; i++) {
    base[`model.layers.${i}.proj.weight`] = { ...r([64, 64], 1), dtype: 'F16' };
    if (untouched) base[`model.layers.${i}.norm.weight`] = { ...r([64, 64], 1), dtype: 'F16' };
    ad[`base_model.model.model.layers.${i}.proj.lora_A.weight`] = r([2, 64], 0.5);
    ad[`base_model.model.model.layers.${i}.proj.lora_B.weight`] = r([64, 2], 0.5);
  }
  writeSafetensors(path.join(dir, 'base.safetensors'), base);
  writePeftAdapter(path.join(dir, 'adapter'), { r: 2, lora_alpha: 2, target_modules: ['proj'] }, ad);
  return { base: path.join(dir, 'base.safetensors'), adapter: path.join(dir, 'adapter') };
}

async function mergeWith(backend: MatmulBackend, base: string, adapter: string, out: string, extra: Parameters<typeof mergeLora>[2] = {}) {
  const plan = buildPlan(base, [{ path: adapter, weight: 1 }]);
  try {
    return await mergeLora(plan, out, { backend, ...extra });
  } finally {
    plan.close();
  }
}

test('mergeLora with the ORT backend: same tensors as the JavaScript path (within the final rounding), same report', async () => {
  const dir = tempDir();
  const { base, adapter } = mixedBase(dir);
  const js = await mergeWith(new JsMatmulBackend(), base, adapter, path.join(dir, 'js.safetensors'));
  const viaOrt = await mergeWith(ort(), base, adapter, path.join(dir, 'ort.safetensors'));
  const [a, b] = [readAll(path.join(dir, 'js.safetensors')), readAll(path.join(dir, 'ort.safetensors'))];
  assert.deepEqual(Object.keys(b), Object.keys(a), 'same tensors, same order');
  // float64 is not done by the graph: its product comes from ORT's MatMul (float32), the rest is the JavaScript float64 path.
  const ulp = { F16: 2 ** -10, BF16: 2 ** -7, F32: 2 ** -23, F64: 2 ** -23 } as Record<string, number>;
  for (const name of Object.keys(a)) {
    for (let x = 0; x < a[name].values.length; x++) {
      const tol = ulp[a[name].dtype!] * Math.max(Math.abs(a[name].values[x]), 2 ** -14) + (a[name].dtype === 'F32' || a[name].dtype === 'F64' ? 1e-6 : 0);
      assert.ok(Math.abs(a[name].values[x] - b[name].values[x]) <= tol, `${name}[${x}]: ${a[name].values[x]} vs ${b[name].values[x]}`);
    }
  }
  assert.deepEqual(b['model.norm.weight'].values, a['model.norm.weight'].values, 'untouched tensors are copied');
  assert.equal(viaOrt.merged.length, 4);
  for (const [i, row] of viaOrt.merged.entries()) {
    assert.equal(row.target, js.merged[i].target);
    assert.ok(Math.abs(row.delta_fro / js.merged[i].delta_fro - 1) < 1e-6, `${row.target} ‖ΔW‖`);
    assert.ok(Math.abs(row.rel_change / js.merged[i].rel_change - 1) < 1e-6, `${row.target} rel_change`);
  }
});

test('ORT backend: an overflow or NaN stops the merge naming the tensor and value; nothing is written', async () => {
  for (const [poison, message] of [
    [{ tensor: 'c', index: 7, value: NaN }, /merged tensor 'model\.c\.weight' value 7 is NaN.*nothing was written/],
    [{ tensor: 'b', index: 0, value: -Infinity }, /merged tensor 'model\.b\.weight' value 0 is -Infinity/],
    [{ tensor: 'a', index: 1000, value: NaN }, /merged tensor 'model\.a\.weight' value 1000 is NaN/],
  ] as const) {
    const dir = tempDir();
    const { base, adapter } = mixedBase(dir, poison);
    await assert.rejects(mergeWith(ort(), base, adapter, path.join(dir, 'out.safetensors')), (e: Error) => e instanceof ModelFuseError && message.test(e.message));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter', 'base.safetensors'], 'no output, no temporaries');
  }
  // 65504 (float16's largest) + 16 = 65520 rounds to Inf: reported with the float64 value, as the JavaScript path does.
  const dir = tempDir();
  writeSafetensors(path.join(dir, 'base.safetensors'), { 'm.fc.weight': { shape: [2, 2], values: new Float64Array([1, 2, 3, 65504]), dtype: 'F16' } });
  writePeftAdapter(path.join(dir, 'adapter'), { r: 1, lora_alpha: 16, target_modules: ['fc'] }, {
    'base_model.model.m.fc.lora_A.weight': { shape: [1, 2], values: new Float64Array([0, 1]) },
    'base_model.model.m.fc.lora_B.weight': { shape: [2, 1], values: new Float64Array([0, 1]) },
  });
  await assert.rejects(
    mergeWith(ort(), path.join(dir, 'base.safetensors'), path.join(dir, 'adapter'), path.join(dir, 'out.safetensors')),
    /merged tensor 'm\.fc\.weight' value 3 is 65520, beyond float16's range/,
  );
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter', 'base.safetensors']);
  // 65504 + 15.5 is still below the overflow limit: it rounds to 65504 and merges.
  const plan = buildPlan(path.join(dir, 'base.safetensors'), [{ path: path.join(dir, 'adapter'), weight: 15.5 / 16 }]);
  await mergeLora(plan, path.join(dir, 'ok.safetensors'), { backend: ort() }).finally(() => plan.close());
  assert.deepEqual([...readAll(path.join(dir, 'ok.safetensors'))['m.fc.weight'].values], [1, 2, 3, 65504]);
});

test('ORT backend: cancelling between tensors stops the merge and leaves no output', async () => {
  const dir = tempDir();
  const { base, adapter } = mixedBase(dir);
  const token = { cancelled: false };
  const seen: string[] = [];
  await assert.rejects(
    mergeWith(ort(), base, adapter, path.join(dir, 'out.safetensors'), { cancel: token, onProgress: (_d, _t, name) => (seen.push(name), (token.cancelled = true)) }),
    CancelledError,
  );
  assert.deepEqual(seen, ['model.a.weight'], 'stopped right after the first merged tensor');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter', 'base.safetensors']);
});

test('worker lora/merge: the merge runs in the worker with progress per tensor, same bytes as in-process ORT; cancel leaves nothing', async () => {
  const dir = tempDir();
  const { base, adapter } = mixedBase(dir);
  await mergeWith(ort(), base, adapter, path.join(dir, 'here.safetensors'));
  const client = new WorkerClient({ workerPath: testBundles().worker, threads: 1 });
  try {
    const progress: string[] = [];
    const out = path.join(dir, 'worker.safetensors');
    const report = await client.request('lora/merge', { base, adapters: [{ path: adapter, weight: 1 }], output: out }, { onProgress: (p) => progress.push(p.message) });
    assert.equal(report.output, out);
    assert.deepEqual(report.merged.map((m) => m.target), ['model.a.weight', 'model.b.weight', 'model.c.weight', 'model.d.weight']);
    // (the worker coalesces progress messages: the last one always arrives)
    assert.equal(progress.at(-1), 'merged model.d.weight (4/4)');
    for (const m of progress) assert.match(m, /^(matching adapter modules to base tensors|merged model\.[a-d]\.weight \([1-4]\/4\))$/);
    assert.deepEqual(fs.readFileSync(out), fs.readFileSync(path.join(dir, 'here.safetensors')));

    // Cancel: a base of many tensors, so the merge is still running when the cancel arrives.
    const many = manyTensors(path.join(dir, 'many'), 400);
    const abort = new AbortController();
    const p = client.request('lora/merge', { base: many.base, adapters: [{ path: many.adapter, weight: 1 }], output: path.join(dir, 'many', 'out.safetensors') }, {
      token: abort.signal,
      onProgress: (m) => m.done !== undefined && abort.abort(),
    });
    await assert.rejects(p, CancelledError);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'many')).sort(), ['adapter', 'base.safetensors'], 'no output, no temporaries');
    await assert.rejects(
      client.request('lora/merge', { base, adapters: [{ path: adapter, weight: 1 }], output: 'relative.safetensors' }),
      /absolute paths/,
    );
  } finally {
    await client.dispose();
  }
});

test('CLI lora --matmul ort --json: the merge runs in the worker; the report names the output as given', async () => {
  const dir = tempDir();
  const { base, adapter } = mixedBase(dir);
  await mergeWith(ort(), base, adapter, path.join(dir, 'here.safetensors'));
  const r = spawnSync(process.execPath, [testBundles().cli, 'lora', 'base.safetensors', '--adapter', 'adapter', '-o', 'cli.safetensors', '--matmul', 'ort', '--json'], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.output, 'cli.safetensors');
  assert.deepEqual(json.merged.map((m: { target: string }) => m.target), ['model.a.weight', 'model.b.weight', 'model.c.weight', 'model.d.weight']);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'cli.safetensors')), fs.readFileSync(path.join(dir, 'here.safetensors')));
});

test('streaming merge recycles read and written buffers: a run of same-sized tensors (merged and untouched) comes out right', async () => {
  const dir = tempDir();
  const { base, adapter } = manyTensors(dir, 12, true);
  await mergeWith(new JsMatmulBackend(), base, adapter, path.join(dir, 'js.safetensors'));
  await mergeWith(ort(), base, adapter, path.join(dir, 'ort.safetensors'));
  const [input, js, viaOrt] = [readAll(base), readAll(path.join(dir, 'js.safetensors')), readAll(path.join(dir, 'ort.safetensors'))];
  assert.equal(Object.keys(viaOrt).length, 24);
  for (const name of Object.keys(input)) {
    if (name.includes('norm')) {
      assert.deepEqual(viaOrt[name].values, input[name].values, `${name} copied unchanged`);
      continue;
    }
    let changed = 0;
    for (let x = 0; x < js[name].values.length; x++) {
      const [a, b] = [js[name].values[x], viaOrt[name].values[x]];
      assert.ok(Math.abs(a - b) <= 2 ** -10 * Math.max(Math.abs(a), 2 ** -14), `${name}[${x}]: ${a} vs ${b}`);
      if (b !== input[name].values[x]) changed++;
    }
    assert.ok(changed > 1000, `${name} was merged`);
  }
});

test('BufferPool: recycles whole offset-0 buffers of the same size, keeps at most `keep`, never the same one twice', () => {
  const pool = new BufferPool(2);
  const a = pool.take(16);
  const b = pool.take(16);
  assert.notEqual(a, b);
  pool.give(a);
  pool.give(a);
  assert.equal(pool.take(16), a);
  assert.notEqual(pool.take(16), a, 'given twice, handed out once');
  pool.give(new Uint8Array(new ArrayBuffer(32), 16, 16)); // a view: not kept
  assert.notEqual(pool.take(16).buffer.byteLength, 32);
  const c = pool.take(8);
  pool.give(a);
  pool.give(b);
  pool.give(c); // over the limit: dropped
  assert.notEqual(pool.take(8), c);
});
