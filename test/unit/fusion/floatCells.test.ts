/**
 * FloatCells: a fold scales weights in place wherever they are stored. Bytes
 * at any offset of a buffer (raw_data views into the model file rarely start
 * on a 4-byte boundary) must end up with exactly the bits of the float64
 * product rounded once to float32, the same as an aligned Float32Array.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { arrayCells, float32Cells } from '../../../extension/engine/fusion/folds/floatCells';

/** Values that exercise rounding: ties, subnormals, huge (overflow to ±inf), signed zeros, NaN. */
function awkwardFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const special = [0, -0, 1.5e-45, -1.5e-45, 3.4e38, -3.4e38, NaN, 1, 2 ** -126, 16777217];
  for (let i = 0; i < n; i++) out[i] = i < special.length ? special[i] : (next() - 0.5) * 2 ** Math.floor(next() * 60 - 30);
  return out;
}

const factors = Float64Array.from([1 / 3, -2.000000119, 1e-7, 7.5, 1e30, -0.1]);

/** The reference: every element as float64 times its factor, rounded once with Math.fround. */
function reference(values: Float32Array, factorOf: (k: number) => number): Float32Array {
  return Float32Array.from(values, (v, k) => Math.fround(v * factorOf(k)));
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** `count` awkward values stored as float32 bytes at `offset` of a larger buffer filled with a marker. */
function storedAt(values: Float32Array, offset: number): { backing: Uint8Array; bytes: Uint8Array } {
  const backing = new Uint8Array(values.length * 4 + offset + 8).fill(0xab);
  const bytes = backing.subarray(offset, offset + values.length * 4);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return { backing, bytes };
}

function untouchedAround(backing: Uint8Array, bytes: Uint8Array): boolean {
  return backing.subarray(0, bytes.byteOffset).every((b) => b === 0xab) && backing.subarray(bytes.byteOffset + bytes.length).every((b) => b === 0xab);
}

const readBack = (bytes: Uint8Array): Float32Array => new Float32Array(Uint8Array.from(bytes).buffer);

// Small tensors, and tensors of several scratch chunks (16384 values) whose runs straddle chunk boundaries.
for (const [rows, cols] of [[6, 37], [3, 16384 + 77], [4099, 9]] as const) {
  for (const offset of [0, 1, 2, 3, 5]) {
    test(`float32 bytes [${rows}, ${cols}] at offset ${offset}: scaleRuns and scaleTiled give the bits of one float64 rounding, in place`, () => {
      const values = awkwardFloats(rows * cols, offset + cols);
      const { backing, bytes } = storedAt(values, offset);
      const cells = float32Cells(bytes);
      assert.equal(cells.length, rows * cols);

      const rowFactors = Float64Array.from({ length: rows }, (_, r) => factors[r % factors.length] * (1 + r / 7));
      cells.scaleRuns(cols, rowFactors);
      const scaledRows = reference(values, (k) => rowFactors[Math.floor(k / cols)]);
      assert.deepEqual(bits(readBack(bytes)), bits(scaledRows));

      const columnFactors = Float64Array.from({ length: cols }, (_, c) => factors[c % factors.length] * (c + 1));
      cells.scaleTiled(columnFactors);
      assert.deepEqual(bits(readBack(bytes)), bits(reference(scaledRows, (k) => columnFactors[k % cols])));
      assert.ok(untouchedAround(backing, bytes), 'nothing outside the tensor was written');
    });
  }
}

test('typed-array cells (float32 and float64) compute the same products as byte cells', () => {
  const values = awkwardFloats(90, 7);
  const asArray = Float32Array.from(values);
  const { bytes } = storedAt(values, 1);
  for (const cells of [arrayCells(asArray), float32Cells(bytes)]) cells.scaleRuns(15, factors);
  assert.deepEqual(bits(asArray), bits(readBack(bytes)));

  const wide = Float64Array.from(values);
  arrayCells(wide).scaleTiled(factors);
  assert.deepEqual(Array.from(wide), Array.from(values, (v, k) => v * factors[k % factors.length]));
});

test('runs or tiles that do not cover the tensor exactly are an internal error, before anything changes', () => {
  const values = awkwardFloats(12, 3);
  const { bytes } = storedAt(values, 1);
  const before = Uint8Array.from(bytes);
  const cells = float32Cells(bytes);
  assert.throws(() => cells.scaleRuns(5, factors), /do not cover/);
  assert.throws(() => cells.scaleTiled(Float64Array.from([1, 2, 3, 4, 5])), /do not divide/);
  assert.deepEqual(bytes, before);
});

test('float32 cells refuse a byte length that is not whole float32 values', () => {
  assert.throws(() => float32Cells(new Uint8Array(7)), /not whole float32 values/);
});
