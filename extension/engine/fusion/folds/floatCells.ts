/**
 * The values of a float tensor that a fold scales in place, wherever they
 * live: a Float32Array/Float64Array, or the tensor's own little-endian bytes.
 *
 * Why bytes too: embedded `raw_data` are views into the model file's buffer
 * and start wherever the protobuf put them, usually not on a 4-byte
 * boundary, so no Float32Array can view them. Copying such a weight into an
 * aligned array and back costs two copies and a fresh allocation the size of
 * the weight (page faults and peak memory included); a DataView edits the
 * bytes where they are, at the speed of the typed-array loop.
 *
 * Every product is computed in float64 (JS numbers) and rounded once when
 * stored — for float32 storage by the store itself (round to nearest even),
 * exactly as `Math.fround(x * s)` — so all three kinds give the same bits.
 */

export interface FloatCells {
  readonly length: number;
  /** cells[start … start + count) *= factor */
  scaleRun(start: number, count: number, factor: number): void;
  /** cells[start + i] *= factors[i] for every i < factors.length */
  multiplyRun(start: number, factors: Float64Array): void;
}

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Cells over float32 little-endian bytes (a raw_data view, edited in place); bytes.length must be a multiple of 4. */
export function float32Cells(bytes: Uint8Array): FloatCells {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`internal: ${bytes.byteLength} bytes are not whole float32 values`);
  if (NATIVE_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32ArrayCells(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  return new Float32ByteCells(bytes);
}

/** Cells over a typed array (e.g. float64 values read from a float16 tensor, rounded to the tensor's type later). */
export function arrayCells(values: Float32Array | Float64Array): FloatCells {
  return values instanceof Float32Array ? new Float32ArrayCells(values) : new Float64ArrayCells(values);
}

// One class per storage keeps each loop's element access monomorphic (V8 compiles it to a plain load/store).

class Float32ArrayCells implements FloatCells {
  constructor(private readonly a: Float32Array) {}
  get length(): number {
    return this.a.length;
  }
  scaleRun(start: number, count: number, factor: number): void {
    const a = this.a;
    const end = start + count;
    for (let k = start; k < end; k++) a[k] *= factor;
  }
  multiplyRun(start: number, factors: Float64Array): void {
    const a = this.a;
    for (let i = 0; i < factors.length; i++) a[start + i] *= factors[i];
  }
}

class Float64ArrayCells implements FloatCells {
  constructor(private readonly a: Float64Array) {}
  get length(): number {
    return this.a.length;
  }
  scaleRun(start: number, count: number, factor: number): void {
    const a = this.a;
    const end = start + count;
    for (let k = start; k < end; k++) a[k] *= factor;
  }
  multiplyRun(start: number, factors: Float64Array): void {
    const a = this.a;
    for (let i = 0; i < factors.length; i++) a[start + i] *= factors[i];
  }
}

class Float32ByteCells implements FloatCells {
  private readonly view: DataView;
  readonly length: number;
  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength / 4;
  }
  scaleRun(start: number, count: number, factor: number): void {
    const v = this.view;
    const end = (start + count) * 4;
    for (let p = start * 4; p < end; p += 4) v.setFloat32(p, v.getFloat32(p, true) * factor, true);
  }
  multiplyRun(start: number, factors: Float64Array): void {
    const v = this.view;
    for (let i = 0, p = start * 4; i < factors.length; i++, p += 4) v.setFloat32(p, v.getFloat32(p, true) * factors[i], true);
  }
}
