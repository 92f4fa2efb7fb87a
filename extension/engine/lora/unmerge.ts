/**
 * Unmerging (diffusers' `unfuse_lora`): `lora --subtract` runs the plan with
 * every scale negated, W'' = round(W' − s·ΔW). It is exact only in exact
 * arithmetic: the merge rounded W + s·ΔW once and the unmerge rounds again,
 * so W'' − W = e₁ + e₂ with |eᵢ| ≤ half an ulp of the value rounded. This
 * module bounds that per tensor, and measures the real distance when the user
 * still has the original base to compare with.
 *
 * DoRA cannot be unmerged from the merged weight alone (the norm ‖W + s·ΔW‖
 * it divided by is not recoverable from W'), and a modules_to_save tensor
 * replaced the base outright; the plan refuses both.
 */
import { DataType } from '../onnx/dtypes';
import { ModelFuseError } from '../errors';
import { OnnxModel } from '../onnx/model';
import { tensorDims } from '../onnx/tensors';
import { SafetensorsBase } from './safetensorsTargets';
import { safetensorsDtypeToOnnx } from '../safetensors/safetensors';
import { decodeFloatTensor } from './halfFloat';

/** Mantissa bits and smallest normal exponent of the float types a merge writes. */
const FORMAT: Record<number, { bits: number; minExp: number }> = {
  [DataType.FLOAT]: { bits: 23, minExp: -126 },
  [DataType.FLOAT16]: { bits: 10, minExp: -14 },
  [DataType.BFLOAT16]: { bits: 7, minExp: -126 },
  [DataType.DOUBLE]: { bits: 52, minExp: -1022 },
};

/** The spacing of `dtype`'s values around x (the unit in the last place). */
export function ulpOf(dtype: number, x: number): number {
  const f = FORMAT[dtype];
  if (!f) throw new RangeError(`no ulp for dtype ${dtype}`);
  const e = x === 0 || !Number.isFinite(x) ? f.minExp : Math.max(Math.floor(Math.log2(Math.abs(x))), f.minExp);
  return 2 ** (e - f.bits);
}

/**
 * The largest possible |W'' − W| over a tensor when W' (merged, `before`)
 * was round(W + d) and W'' (`after`) is round(W' − d): ½ulp(W') + ½ulp(W'')
 * per value, assuming the same ΔW both times (same adapter, same kernel).
 */
export function unmergeRoundingBound(before: ArrayLike<number>, after: ArrayLike<number>, dtype: number): number {
  let bound = 0;
  for (let i = 0; i < before.length; i++) bound = Math.max(bound, (ulpOf(dtype, before[i]) + ulpOf(dtype, after[i])) / 2);
  return bound;
}

export interface Distance {
  tensor: string;
  max_abs: number;
  /** max |W'' − W| / max |W|. */
  max_rel: number;
}

/** max |a − b| per tensor between a model written by `lora --subtract` and the original base (same kind of file). */
export function distanceFromOriginal(outputPath: string, originalPath: string, names: readonly string[]): Distance[] {
  const out = openTensors(outputPath);
  const orig = openTensors(originalPath);
  try {
    return names.map((name) => {
      const a = out.read(name);
      const b = orig.read(name);
      if (!a || !b) throw new ModelFuseError(`${a ? originalPath : outputPath}: no tensor '${name}' to compare`);
      if (a.length !== b.length) throw new ModelFuseError(`${originalPath}: '${name}' has ${b.length} values, the unmerged model ${a.length}: not the same base`);
      let d = 0;
      let peak = 0;
      for (let i = 0; i < a.length; i++) {
        d = Math.max(d, Math.abs(a[i] - b[i]));
        peak = Math.max(peak, Math.abs(b[i]));
      }
      return { tensor: name, max_abs: d, max_rel: peak > 0 ? d / peak : d };
    });
  } finally {
    out.close();
    orig.close();
  }
}

interface TensorSource {
  read(name: string): Float32Array | Float64Array | undefined;
  close(): void;
}

function openTensors(file: string): TensorSource {
  if (file.toLowerCase().endsWith('.onnx')) {
    const m = OnnxModel.load(file);
    return {
      read: (name) => {
        const t = m.graph.initializer.find((x) => x.name === name);
        return t ? decodeFloatTensor(m.tensorBytes(t), t.data_type ?? 0, tensorDims(t).reduce((a, b) => a * b, 1)) : undefined;
      },
      close: () => m.close(),
    };
  }
  const s = SafetensorsBase.open(file);
  return {
    read: (name) => {
      const info = s.tensors.get(name);
      return info ? decodeFloatTensor(s.readBytes(name), safetensorsDtypeToOnnx(info.dtype), info.shape.reduce((a, b) => a * b, 1)) : undefined;
    },
    close: () => s.close(),
  };
}
