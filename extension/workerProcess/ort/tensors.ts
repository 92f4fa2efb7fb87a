/**
 * Between our plain typed arrays and ONNX Runtime tensors: model inputs as
 * ORT declares them, input tensors for a run, and outputs read back as
 * float64 values for the statistics.
 */
import type { OnnxValue, Tensor } from 'onnxruntime-node';
import { fileError } from '../../engine/errors';
import { float16FromBits } from '../../engine/onnx/dtypes';
import type { InputTensor, ModelInputSpec } from '../../engine/stats/inputs';
import { loadOrt, type Session } from './runtime';

/** The inputs a session needs (initializers excluded), with ORT's element type names. */
export function sessionInputs(session: Session, modelPath: string): ModelInputSpec[] {
  return session.inputMetadata.map((m) => {
    if (!m.isTensor) throw fileError(modelPath, `input '${m.name}' is not a tensor (sequences and maps are not supported)`);
    return { name: m.name, dtype: m.type, dims: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : null)) };
  });
}

export function toOrtTensor(t: InputTensor): Tensor {
  const ort = loadOrt();
  // ORT's constructor is overloaded per element type; the data arrays already have the matching class.
  return new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
}

export function feedsOf(tensors: readonly InputTensor[]): Record<string, Tensor> {
  return Object.fromEntries(tensors.map((t) => [t.name, toOrtTensor(t)]));
}

export interface OutputValues {
  dtype: string;
  dims: number[];
  values: Float64Array;
}

/** An output's values as float64 (int64 beyond 2^53 loses precision, irrelevant for differences). */
export function outputValues(value: OnnxValue, name: string, modelPath: string): OutputValues {
  const t = value as Tensor;
  if (!t || !Array.isArray(t.dims) || typeof t.type !== 'string') {
    throw fileError(modelPath, `output '${name}' is not a tensor (sequences and maps cannot be compared)`);
  }
  const dims = t.dims.map(Number);
  const data = t.data as ArrayLike<number | bigint> | string[];
  if (t.type === 'string') throw fileError(modelPath, `output '${name}' holds strings, which cannot be compared numerically`);
  const n = data.length;
  const values = new Float64Array(n);
  if (t.type === 'float16' && data instanceof Uint16Array) {
    for (let i = 0; i < n; i++) values[i] = float16FromBits(data[i]);
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) values[i] = Number(data[i]);
  } else {
    const d = data as ArrayLike<number>;
    for (let i = 0; i < n; i++) values[i] = Number(d[i]);
  }
  return { dtype: t.type, dims, values };
}
