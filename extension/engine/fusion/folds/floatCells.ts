/**
 * The values of a float tensor that a fold scales in place, wherever they
 * live: a Float32Array/Float64Array, or the tensor's own little-endian bytes.
 *
 * Why bytes too: embedded `raw_data` are views into the model file's buffer
 * and start wherever the protobuf put them, usually not on a 4-byte
 * boundary, so no Float32Array can view them. Copying such a weight into an
 * aligned array and back costs two copies and a fresh allocation the size of
 * the weight (page faults and peak memory included); instead the bytes are
 * edited where they are (Float32ByteCells).
 *
 * Every product is computed in float64 (JS numbers) and rounded once when
 * stored — for float32 storage by the store itself (round to nearest even),
 * exactly as `Math.fround(x * s)` — so every storage gives the same bits.
 */
import type { ITensorProto } from '../../onnx/proto';
import { deferLazyEdit, lazyRawDataLength } from '../../onnx/lazyRawData';

export interface FloatCells {
  readonly length: number;
  /**
   * Element k *= factors[floor(k / runLength)]: consecutive runs of
   * `runLength` elements, one factor each (a Conv weight's output channels).
   * runLength · factors.length must be the length.
   */
  scaleRuns(runLength: number, factors: ArrayLike<number>): void;
  /** Element k *= factors[k mod factors.length] (the columns of an [in, out] matrix); the length must be a multiple. */
  scaleTiled(factors: ArrayLike<number>): void;
}

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Cells over float32 little-endian bytes (a raw_data view, edited in place); bytes.length must be a multiple of 4. */
export function float32Cells(bytes: Uint8Array): FloatCells {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`internal: ${bytes.byteLength} bytes are not whole float32 values`);
  if (NATIVE_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new ArrayCells(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  return new Float32ByteCells(bytes);
}

/**
 * Cells of a float32 weight an on-demand load left in the model file, or
 * undefined when its bytes are in memory: each scaling is recorded, not
 * applied, and the save applies it piece by piece while it copies the weight
 * from the input (lazyRawData.ts's deferLazyEdit) — the weight is read once,
 * written once, and never held whole. Same products, same rounding, same
 * order as scaling in memory, so the same bits.
 */
export function deferredFloat32Cells(t: ITensorProto, nonFinite?: (element: number) => Error): FloatCells | undefined {
  const bytes = lazyRawDataLength(t);
  if (bytes === undefined || !NATIVE_LITTLE_ENDIAN || bytes % 4 !== 0) return undefined;
  return new DeferredCells(t, bytes / 4, nonFinite);
}

/** Cells over a typed array (e.g. float64 values read from a float16 tensor, rounded to the tensor's type later). */
export function arrayCells(values: Float32Array | Float64Array): FloatCells {
  return new ArrayCells(values);
}

function checkRuns(length: number, runLength: number, factors: ArrayLike<number>): void {
  if (runLength * factors.length !== length) throw new Error(`internal: ${factors.length} runs of ${runLength} do not cover ${length} values`);
}

function checkTiled(length: number, factors: ArrayLike<number>): void {
  if (factors.length === 0 ? length !== 0 : length % factors.length !== 0) throw new Error(`internal: ${factors.length} tiled factors do not divide ${length} values`);
}

/** a[0 … n) hold elements base … base + n of the tensor: scales them as scaleRuns would. */
function scaleRunsOf(a: Float32Array | Float64Array, n: number, base: number, runLength: number, factors: ArrayLike<number>): void {
  let run = Math.floor(base / runLength);
  let i = 0;
  while (i < n) {
    const stop = Math.min(n, (run + 1) * runLength - base);
    const f = factors[run++];
    for (; i < stop; i++) a[i] *= f;
  }
}

/** a[0 … n) hold elements base … base + n of the tensor: scales them as scaleTiled would. */
function scaleTiledOf(a: Float32Array | Float64Array, n: number, base: number, factors: ArrayLike<number>): void {
  const m = factors.length;
  let j = base % m;
  for (let i = 0; i < n; i++) {
    a[i] *= factors[j];
    if (++j === m) j = 0;
  }
}

class ArrayCells implements FloatCells {
  constructor(private readonly a: Float32Array | Float64Array) {}
  get length(): number {
    return this.a.length;
  }
  scaleRuns(runLength: number, factors: ArrayLike<number>): void {
    checkRuns(this.a.length, runLength, factors);
    if (this.a.length > 0) scaleRunsOf(this.a, this.a.length, 0, runLength, factors);
  }
  scaleTiled(factors: ArrayLike<number>): void {
    checkTiled(this.a.length, factors);
    if (this.a.length > 0) scaleTiledOf(this.a, this.a.length, 0, factors);
  }
}

/**
 * Unaligned float32 bytes, edited through a small aligned scratch array:
 * copy a chunk in, scale it as a Float32Array, copy it back. The scratch
 * stays in cache, and typed-array loops are faster than per-element
 * DataView calls (about 20% on a ResNet-50). Chunks follow the tensor, not
 * the runs, so short runs (a 1×1 Conv's channels) cost no extra calls.
 */
const SCRATCH = new Float32Array(16384);
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);

class Float32ByteCells implements FloatCells {
  readonly length: number;
  constructor(private readonly bytes: Uint8Array) {
    this.length = bytes.byteLength / 4;
  }
  scaleRuns(runLength: number, factors: ArrayLike<number>): void {
    checkRuns(this.length, runLength, factors);
    this.chunked((n, base) => scaleRunsOf(SCRATCH, n, base, runLength, factors));
  }
  scaleTiled(factors: ArrayLike<number>): void {
    checkTiled(this.length, factors);
    this.chunked((n, base) => scaleTiledOf(SCRATCH, n, base, factors));
  }
  private chunked(scale: (n: number, base: number) => void): void {
    for (let base = 0; base < this.length; base += SCRATCH.length) {
      const n = Math.min(SCRATCH.length, this.length - base);
      SCRATCH_BYTES.set(this.bytes.subarray(base * 4, (base + n) * 4));
      scale(n, base);
      this.bytes.set(n === SCRATCH.length ? SCRATCH_BYTES : SCRATCH_BYTES.subarray(0, n * 4), base * 4);
    }
  }
}

/** Scalings recorded on a payload still in the file; each piece is scaled as a Float32Array when it is read or copied. */
class DeferredCells implements FloatCells {
  /** `nonFinite`: the error to stop the save with when a scaled piece holds Inf or NaN (folds never write them). */
  constructor(private readonly tensor: ITensorProto, readonly length: number, private readonly nonFinite?: (element: number) => Error) {}
  scaleRuns(runLength: number, factors: ArrayLike<number>): void {
    checkRuns(this.length, runLength, factors);
    const f = Float64Array.from(factors); // the caller's array may change before the save
    this.defer((a, base) => scaleRunsOf(a, a.length, base, runLength, f));
  }
  scaleTiled(factors: ArrayLike<number>): void {
    checkTiled(this.length, factors);
    const f = Float64Array.from(factors);
    this.defer((a, base) => scaleTiledOf(a, a.length, base, f));
  }
  private defer(scale: (a: Float32Array, base: number) => void): void {
    const recorded = deferLazyEdit(this.tensor, (chunk, at) => {
      let a: Float32Array;
      if (chunk.byteOffset % 4 === 0) {
        a = new Float32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength / 4);
        scale(a, at / 4);
      } else {
        a = new Float32Array(chunk.byteLength / 4);
        new Uint8Array(a.buffer).set(chunk);
        scale(a, at / 4);
        chunk.set(new Uint8Array(a.buffer));
      }
      if (this.nonFinite) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw this.nonFinite(at / 4 + i);
    });
    if (!recorded) throw new Error(`internal: tensor '${this.tensor.name}' was read before its scaling was recorded`);
  }
}
