/** The fast float16/bfloat16 conversions must agree bit for bit with the exact (slow) ones in onnx/dtypes.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16Bits, bfloat16FromBits, DataType, float16Bits, float16FromBits } from '../../../extension/engine/onnx/dtypes';
import { decodeFloatTensor, encodeFloatTensor, float64ToBfloat16Bits, float64ToHalfBits } from '../../../extension/engine/lora/halfFloat';
import { matmulInto } from '../../../extension/engine/lora/matmulBackend';
import { matmul64, rand } from './loraTestUtils';

/** Doubles that stress single rounding: exact ties, one float64 ulp either side, subnormals, overflow edges. */
function hardValues(fromBits: (b: number) => number, count: number): number[] {
  const out: number[] = [0, -0, 65504, 65519.99, 65520, 65536, -65520, 1e-8, 2 ** -25, 2 ** -24, 3 * 2 ** -26, 1e-30, Infinity, -Infinity];
  for (let b = 0; b < 0x7bff; b += 7) {
    const lo = fromBits(b);
    const hi = fromBits(b + 1);
    const mid = (lo + hi) / 2; // exactly representable in float64: the tie
    out.push(mid, -mid, nextUp(mid), nextDown(mid), lo);
  }
  const r = rand(7)([count], 1);
  for (let i = 0; i < count; i++) out.push(r.values[i] * 2 ** ((i % 60) - 30) + r.values[(i + 1) % count] * 1e-9);
  return out;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function nextUp(x: number): number {
  f64[0] = x;
  u64[0] += x >= 0 ? 1n : -1n;
  return f64[0];
}
function nextDown(x: number): number {
  f64[0] = x;
  u64[0] += x >= 0 ? -1n : 1n;
  return f64[0];
}

test('float64 → float16: one rounding, identical to the exact encoder on ties, near-ties, subnormals and overflow', () => {
  for (const v of hardValues(float16FromBits, 20000)) assert.equal(float64ToHalfBits(v), float16Bits(v), `value ${v}`);
  assert.equal(float64ToHalfBits(NaN) & 0x7c00, 0x7c00);
});

test('float64 → bfloat16: one rounding, identical to the exact encoder', () => {
  const vals = [...hardValues(bfloat16FromBits, 20000)];
  for (let b = 0x3f00; b < 0x4100; b++) {
    const mid = (bfloat16FromBits(b) + bfloat16FromBits(b + 1)) / 2;
    vals.push(mid, nextUp(mid), nextDown(mid));
  }
  for (const v of vals) assert.equal(float64ToBfloat16Bits(v), bfloat16Bits(v), `value ${v}`);
});

test('decode of every float16 bit pattern matches the exact decoder; bfloat16 and float32 round-trip', () => {
  const bytes = new Uint8Array(65536 * 2);
  const dv = new DataView(bytes.buffer);
  for (let b = 0; b < 65536; b++) dv.setUint16(b * 2, b, true);
  const h = decodeFloatTensor(bytes, DataType.FLOAT16, 65536);
  const bf = decodeFloatTensor(bytes, DataType.BFLOAT16, 65536);
  for (let b = 0; b < 65536; b++) {
    const want = float16FromBits(b);
    assert.ok(Object.is(h[b], want) || (Number.isNaN(h[b]) && Number.isNaN(want)), `f16 bits ${b}`);
    const wantBf = bfloat16FromBits(b);
    assert.ok(Object.is(bf[b], wantBf) || (Number.isNaN(bf[b]) && Number.isNaN(wantBf)), `bf16 bits ${b}`);
  }
  const f = rand(3)([1000]).values;
  const enc = encodeFloatTensor(Float32Array.from(f), DataType.FLOAT);
  assert.deepEqual(Array.from(decodeFloatTensor(enc, DataType.FLOAT, 1000)), Array.from(Float32Array.from(f)));
});

test('the blocked JS matmul equals a float64 reference (ranks with and without a remainder of 4)', () => {
  const r = rand(11);
  for (const [m, k, n] of [[7, 1, 5], [33, 6, 17], [64, 16, 40], [3, 3, 3]]) {
    const a = r([m, k]).values;
    const b = r([k, n]).values;
    const out = new Float32Array(m * n);
    matmulInto(out, Float32Array.from(a), Float32Array.from(b), m, k, n);
    const want = matmul64(a, b, m, k, n);
    for (let i = 0; i < m * n; i++) assert.ok(Math.abs(out[i] - want[i]) <= 1e-6 * (1 + Math.abs(want[i])), `[${m},${k},${n}] ${i}: ${out[i]} vs ${want[i]}`);
  }
});
