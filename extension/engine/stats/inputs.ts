/**
 * Inputs for verification and timing: either seeded random tensors or tensors
 * read from a safetensors file, checked against what the model declares.
 * Pure TypeScript (no ONNX Runtime): the worker turns the typed arrays into
 * ORT tensors.
 *
 * Random values:
 *  - floating inputs: normal(0, 1) by Box–Muller on a seeded xoshiro128**;
 *  - integer inputs (token ids, indices): uniform integers in [lo, hi), default [0, 10);
 *  - bool inputs: 0/1 with probability 1/2.
 * Each input has its own stream, derived from the seed and the input's NAME,
 * so adding an input to a model does not change the values of the others, and
 * the same seed gives the same tensors on every machine.
 * Dynamic dimensions are 1 unless a shape is given for that input.
 */
import { ModelFuseError, fileError } from '../errors';
import { float16Bits } from '../onnx/dtypes';
import type { SafetensorsFile } from '../safetensors/safetensors';
import { readNpy } from './npy';
import type { InputsDescription, InputTensorDescription } from './verifyReport';

/** An input as a model declares it: dims are numbers, or symbolic names / null / negative for dynamic ones. */
export interface ModelInputSpec {
  name: string;
  /** Element type, ONNX Runtime's names: float32, float16, float64, int64, int32, …, bool. */
  dtype: string;
  dims: readonly (number | string | null)[];
}

export type InputData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

export interface InputTensor {
  name: string;
  dtype: string;
  dims: number[];
  /** float16 as its raw bits (Uint16Array), bool as 0/1 bytes, int64 as BigInt64Array: what ORT takes. */
  data: InputData;
}

export interface PreparedInputs {
  tensors: InputTensor[];
  description: InputsDescription;
}

export const DEFAULT_INT_RANGE: [number, number] = [0, 10];

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);
const INT_LIMITS: Record<string, [number, number]> = {
  int8: [-(2 ** 7), 2 ** 7 - 1], uint8: [0, 2 ** 8 - 1], int16: [-(2 ** 15), 2 ** 15 - 1], uint16: [0, 2 ** 16 - 1],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
  // int64/uint64 hold more, but a range must be exact in a JS number
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], uint64: [0, Number.MAX_SAFE_INTEGER],
};

function isDynamic(d: number | string | null): boolean {
  return typeof d !== 'number' || d < 0;
}

export function formatDims(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => (d === null || d === '' || (typeof d === 'number' && d < 0) ? '?' : String(d))).join(', ')}]`;
}

// ---------------------------------------------------------------- option parsing

/** `name=1x3x224x224` → { name, dims }. */
export function parseShapeOption(text: string): { name: string; dims: number[] } {
  const eq = text.lastIndexOf('=');
  const bad = () => new ModelFuseError([{ term: 'option', option: 'shape', value: `'${text}'` }, ': expected NAME=DIMxDIMx… with positive integers, e.g. x=1x3x224x224'], { code: 'inputs/bad-shape', data: { text } });
  if (eq <= 0 || eq === text.length - 1) throw bad();
  const name = text.slice(0, eq);
  const parts = text.slice(eq + 1).split('x');
  const dims = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (!dims.every((d) => Number.isSafeInteger(d) && d > 0)) throw bad();
  return { name, dims };
}

export function parseShapeOptions(texts: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const t of texts) {
    const { name, dims } = parseShapeOption(t);
    if (name in out) throw new ModelFuseError([{ term: 'option', option: 'shape' }, ` given twice for input '${name}'`], { code: 'inputs/shape-twice', data: { input: name } });
    out[name] = dims;
  }
  return out;
}

/** `lo,hi` → [lo, hi) with integers lo < hi. */
export function parseIntRange(text: string): [number, number] {
  const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) {
    throw new ModelFuseError([{ term: 'option', option: 'int-range', value: `'${text}'` }, ': expected LO,HI (integers; values are drawn from [LO, HI))'], { code: 'inputs/bad-int-range', data: { text } });
  }
  if (hi <= lo) throw new ModelFuseError([{ term: 'option', option: 'int-range', value: `'${text}'` }, ': HI must be greater than LO (values are drawn from [LO, HI))'], { code: 'inputs/bad-int-range', data: { text } });
  return [lo, hi];
}

// ---------------------------------------------------------------- seeded PRNG

/** FNV-1a of a string: mixes the input name into its stream's seed. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that any seed, even 0, gives a good state. */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  constructor(seed: number, stream = '') {
    let x = (Math.trunc(seed) ^ hashString(stream)) >>> 0;
    // fold the high part of large seeds in as well
    x = (x + Math.floor(Math.abs(seed) / 2 ** 32)) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal by Box–Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    const u1 = 1 - this.nextDouble(); // (0, 1]: log is finite
    const u2 = this.nextDouble();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [lo, hi), without modulo bias. */
  intIn(lo: number, hi: number): number {
    const range = hi - lo;
    if (range <= 2 ** 32) {
      const limit = Math.floor(2 ** 32 / range) * range; // reject the top partial block
      let v: number;
      do v = this.nextUint32();
      while (v >= limit);
      return lo + (v % range);
    }
    return lo + Math.floor(this.nextDouble() * range);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// ---------------------------------------------------------------- shapes

/** The concrete shape for one input: the override (checked against fixed dims) or the model's dims with dynamic ones set to 1. */
export function resolveShape(spec: ModelInputSpec, override?: readonly number[]): number[] {
  if (!override) return spec.dims.map((d) => (isDynamic(d) ? 1 : (d as number)));
  // An empty declared shape may mean "rank unknown" (ONNX Runtime reports both that and scalars as []): trust the override.
  if (spec.dims.length === 0) return [...override];
  if (override.length !== spec.dims.length) {
    throw new ModelFuseError([{ term: 'option', option: 'shape', value: `${spec.name}=${override.join('x')}` }, `: input '${spec.name}' has rank ${spec.dims.length} ${formatDims(spec.dims)}, not ${override.length}`], { code: 'inputs/shape-rank', data: { input: spec.name } });
  }
  spec.dims.forEach((d, i) => {
    if (!isDynamic(d) && d !== override[i]) {
      throw new ModelFuseError([{ term: 'option', option: 'shape', value: `${spec.name}=${override.join('x')}` }, `: dimension ${i} of input '${spec.name}' is fixed to ${d} ${formatDims(spec.dims)}`], { code: 'inputs/shape-fixed-dim', data: { input: spec.name, dimension: i } });
    }
  });
  return [...override];
}

export function checkShapeNames(specs: readonly ModelInputSpec[], shapes: Record<string, number[]>): void {
  for (const name of Object.keys(shapes)) {
    if (!specs.some((s) => s.name === name)) {
      throw new ModelFuseError([{ term: 'option', option: 'shape', value: `${name}=…` }, `: the model has no input '${name}' (inputs: ${specs.map((s) => s.name).join(', ') || 'none'})`], { code: 'inputs/unknown-input', data: { input: name } });
    }
  }
}

function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  if (!Number.isSafeInteger(n) || n > 2 ** 31) throw new ModelFuseError(`input shape [${dims.join(', ')}] is too large to generate`);
  return n;
}

// ---------------------------------------------------------------- random inputs

export interface RandomInputOptions {
  seed?: number;
  intRange?: [number, number];
  shapes?: Record<string, number[]>;
}

export function randomInputs(specs: readonly ModelInputSpec[], options: RandomInputOptions = {}): PreparedInputs {
  const seed = options.seed ?? 0;
  const [lo, hi] = options.intRange ?? DEFAULT_INT_RANGE;
  const shapes = options.shapes ?? {};
  checkShapeNames(specs, shapes);
  const tensors: InputTensor[] = [];
  const described: Record<string, InputTensorDescription> = {};
  for (const spec of specs) {
    const dims = resolveShape(spec, shapes[spec.name]);
    const n = elementCount(dims);
    const rng = new SeededRandom(seed, spec.name);
    const { data, values } = randomData(spec, n, rng, lo, hi);
    tensors.push({ name: spec.name, dtype: spec.dtype, dims, data });
    described[spec.name] = { dtype: spec.dtype, shape: dims, values };
  }
  const usesInts = specs.some((s) => s.dtype in INT_LIMITS);
  return {
    tensors,
    description: { source: 'random', seed, ...(usesInts ? { int_range: [lo, hi] as [number, number] } : {}), tensors: described },
  };
}

function randomData(spec: ModelInputSpec, n: number, rng: SeededRandom, lo: number, hi: number): { data: InputData; values: string } {
  const t = spec.dtype;
  if (FLOAT_TYPES.has(t)) {
    const data = t === 'float32' ? new Float32Array(n) : t === 'float64' ? new Float64Array(n) : new Uint16Array(n);
    if (t === 'float16') for (let i = 0; i < n; i++) data[i] = float16Bits(rng.normal());
    else for (let i = 0; i < n; i++) data[i] = rng.normal();
    return { data, values: 'normal(0,1)' };
  }
  if (t === 'bool') {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = rng.nextUint32() >>> 31;
    return { data, values: 'bernoulli(0.5)' };
  }
  const limits = INT_LIMITS[t];
  if (!limits) throw new ModelFuseError([`input '${spec.name}': cannot generate random values of type ${t}`, { term: 'remedy', remedy: { kind: 'inputs-file' } }], { code: 'inputs/no-random-values', data: { input: spec.name, dtype: t } });
  if (lo < limits[0] || hi - 1 > limits[1]) {
    throw new ModelFuseError([{ term: 'option', option: 'int-range', value: `${lo},${hi}` }, `: does not fit input '${spec.name}' of type ${t} (values ${limits[0]}…${limits[1]})`], { code: 'inputs/int-range-type', data: { input: spec.name, dtype: t } });
  }
  const values = `uniform integers [${lo}, ${hi})`;
  if (t === 'int64' || t === 'uint64') {
    const data = t === 'int64' ? new BigInt64Array(n) : new BigUint64Array(n);
    for (let i = 0; i < n; i++) data[i] = BigInt(rng.intIn(lo, hi));
    return { data, values };
  }
  const Ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array }[t]!;
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) data[i] = rng.intIn(lo, hi);
  return { data, values };
}

// ---------------------------------------------------------------- inputs from a safetensors file

const SAFETENSORS_TO_ORT: Record<string, string> = {
  F32: 'float32', F64: 'float64', F16: 'float16', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U8: 'uint8', U16: 'uint16', U32: 'uint32', U64: 'uint64', BOOL: 'bool',
};

/** Looks up each model input as `<name>` or `input.<name>` and checks its type and shape. */
export function inputsFromSafetensors(file: SafetensorsFile, specs: readonly ModelInputSpec[]): PreparedInputs {
  const tensors: InputTensor[] = [];
  const described: Record<string, InputTensorDescription> = {};
  for (const spec of specs) {
    const key = [spec.name, `input.${spec.name}`].find((k) => file.entries.has(k));
    if (!key) {
      const have = file.names().slice(0, 12).join(', ') + (file.names().length > 12 ? ', …' : '');
      throw fileError(file.path, `no tensor for model input '${spec.name}' (looked for '${spec.name}' and 'input.${spec.name}'; the file has: ${have || 'nothing'})`);
    }
    const entry = file.get(key);
    const dtype = checkFileTensor(file.path, `tensor '${key}'`, SAFETENSORS_TO_ORT[entry.dtype] ?? entry.dtype, entry.shape, spec, entry.dtype);
    const data = typedArrayOf(dtype, file.readBytes(key));
    tensors.push({ name: spec.name, dtype, dims: [...entry.shape], data });
    described[spec.name] = { dtype, shape: [...entry.shape], values: `file tensor '${key}'` };
  }
  return { tensors, description: { source: 'file', file: file.path, tensors: described } };
}

/** Checks a file's tensor against the model input it feeds; returns its ORT dtype. */
function checkFileTensor(filePath: string, what: string, dtype: string, shape: readonly number[], spec: ModelInputSpec, storedType = dtype): string {
  if (dtype !== spec.dtype) throw fileError(filePath, `${what} is ${storedType} but model input '${spec.name}' is ${spec.dtype}`);
  const shapeOk = spec.dims.length === 0
    ? shape.length === 0
    : shape.length === spec.dims.length && spec.dims.every((d, i) => isDynamic(d) || d === shape[i]);
  if (!shapeOk) {
    throw fileError(filePath, `${what} has shape [${shape.join(', ')}] but model input '${spec.name}' is ${spec.dtype}${formatDims(spec.dims)}`);
  }
  return dtype;
}

// ---------------------------------------------------------------- inputs from a .npy file

/** A `.npy` file holds one array: the input of a single-input model. */
export function inputsFromNpy(filePath: string, specs: readonly ModelInputSpec[]): PreparedInputs {
  if (specs.length !== 1) {
    throw fileError(filePath, `a .npy file holds one array, but the model takes ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}); put them in one .safetensors file, one tensor per input name`);
  }
  const spec = specs[0];
  const array = readNpy(filePath);
  const dtype = checkFileTensor(filePath, 'the array', array.dtype, array.shape, spec);
  const tensor: InputTensor = { name: spec.name, dtype, dims: array.shape, data: typedArrayOf(dtype, array.bytes) };
  return { tensors: [tensor], description: { source: 'file', file: filePath, tensors: { [spec.name]: { dtype, shape: array.shape, values: 'the .npy array' } } } };
}

/** A typed array over a fresh, aligned copy of little-endian bytes. */
function typedArrayOf(dtype: string, bytes: Uint8Array): InputData {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const b = copy.buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(b);
    case 'float64': return new Float64Array(b);
    case 'float16': case 'uint16': return new Uint16Array(b);
    case 'int64': return new BigInt64Array(b);
    case 'uint64': return new BigUint64Array(b);
    case 'int32': return new Int32Array(b);
    case 'uint32': return new Uint32Array(b);
    case 'int16': return new Int16Array(b);
    case 'int8': return new Int8Array(b);
    default: return copy; // uint8, bool
  }
}

// ---------------------------------------------------------------- the second model

/**
 * Checks that inputs prepared for model A fit model B too (same names, types,
 * and fixed dimensions), so both run on exactly the same tensors.
 */
export function checkInputsFit(modelPath: string, specs: readonly ModelInputSpec[], tensors: readonly InputTensor[], otherPath: string): void {
  const names = new Set(specs.map((s) => s.name));
  for (const t of tensors) {
    if (!names.has(t.name)) throw fileError(modelPath, `has no input '${t.name}', which ${otherPath} takes: the two models cannot run on the same inputs`);
  }
  for (const spec of specs) {
    const t = tensors.find((x) => x.name === spec.name);
    if (!t) throw fileError(modelPath, `takes input '${spec.name}', which ${otherPath} does not: the two models cannot run on the same inputs`);
    if (t.dtype !== spec.dtype) throw fileError(modelPath, `input '${spec.name}' is ${spec.dtype} but in ${otherPath} it is ${t.dtype}`);
    const fits = spec.dims.length === 0 || (spec.dims.length === t.dims.length && spec.dims.every((d, i) => isDynamic(d) || d === t.dims[i]));
    if (!fits) throw fileError(modelPath, `input '${spec.name}' is ${spec.dtype}${formatDims(spec.dims)}, which does not accept the shape [${t.dims.join(', ')}] used for ${otherPath}`);
  }
}
