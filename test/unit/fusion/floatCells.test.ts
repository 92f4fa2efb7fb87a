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

for (const offset of [0, 1, 2, 3, 4, 5]) {
  test(`float32 bytes at offset ${offset}: scaleRun and multiplyRun give the bits of one float64 rounding, edited in place`, () => {
    const rows = 6;
    const cols = 37;
    const values = awkwardFloats(rows * cols, offset + 1);
    const backing = new Uint8Array(rows * cols * 4 + 16).fill(0xab);
    const bytes = backing.subarray(offset, offset + rows * cols * 4);
    bytes.set(new Uint8Array(values.buffer));

    const cells = float32Cells(bytes);
    assert.equal(cells.length, rows * cols);
    for (let r = 0; r < rows; r++) cells.scaleRun(r * cols, cols, factors[r]);
    const scaledRows = reference(values, (k) => factors[Math.floor(k / cols)]);
    const stored = (): Float32Array => new Float32Array(Uint8Array.from(bytes).buffer);
    assert.deepEqual(bits(stored()), bits(scaledRows));

    const columnFactors = Float64Array.from({ length: cols }, (_, c) => factors[c % factors.length] * (c + 1));
    for (let r = 0; r < rows; r++) cells.multiplyRun(r * cols, columnFactors);
    assert.deepEqual(bits(stored()), bits(reference(scaledRows, (k) => columnFactors[k % cols])));

    // Nothing outside the tensor's bytes was touched.
    assert.ok(backing.subarray(0, offset).every((b) => b === 0xab));
    assert.ok(backing.subarray(offset + bytes.length).every((b) => b === 0xab));
  });
}

test('typed-array cells compute the same products as byte cells', () => {
  const values = awkwardFloats(90, 7);
  const asArray = Float32Array.from(values);
  const asBytes = new Uint8Array(values.length * 4 + 1).subarray(1);
  asBytes.set(new Uint8Array(Float32Array.from(values).buffer));
  for (const cells of [arrayCells(asArray), float32Cells(asBytes)]) for (let o = 0; o < 6; o++) cells.scaleRun(o * 15, 15, factors[o]);
  assert.deepEqual(bits(asArray), bits(new Float32Array(Uint8Array.from(asBytes).buffer)));

  const wide = Float64Array.from(values);
  arrayCells(wide).scaleRun(0, wide.length, 1 / 3);
  assert.deepEqual(Array.from(wide), Array.from(values, (v) => v * (1 / 3)));
});

test('float32 cells refuse a byte length that is not whole float32 values', () => {
  assert.throws(() => float32Cells(new Uint8Array(7)), /not whole float32 values/);
});
