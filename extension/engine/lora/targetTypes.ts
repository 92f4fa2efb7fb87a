/**
 * What matching produces, for both kinds of base: for each adapted module, the
 * base tensor it changes, how that tensor is laid out, and the evidence that
 * led there (shown by `lora plan`, so a user can check it before merging).
 */
import type { AdapterModule } from './adapterFormats';
import type { Phrase } from '../remedy';

/** How the delta is shaped: Linear [out,in], Conv [out,in,k…] (lora_B 1×1), Embedding (B·A)ᵀ. */
export type DeltaKind = 'linear' | 'conv' | 'embedding';

/** One adapted module, as matching sees it. */
export interface ModuleRequest {
  /** Unique per adapter×module; used to report results. */
  id: number;
  adapterIndex: number;
  module: AdapterModule;
  deltaKind: DeltaKind;
  /** PEFT fan_in_fan_out: the PyTorch weight itself is [in, out] (GPT-2 Conv1D). */
  fanInFanOut: boolean;
}

export interface TargetMatch {
  /** Tensor (safetensors key or ONNX initializer / value name) that receives the delta. */
  target: string;
  shape: number[];
  /** The stored 2-D tensor is the transpose of PyTorch's [out, in] (ONNX MatMul, Gemm transB=0, fan_in_fan_out). */
  transposed: boolean;
  /** Where lora_B.bias goes (a bias tensor of the same layer), when known. */
  bias?: string;
  /** For modules_to_save: parameter name → base tensor it replaces. */
  replacements?: Record<string, string>;
  evidence: Phrase[];
  /** ONNX only: the node whose weight this is (for messages and for untying shared initializers). */
  node?: string;
  /** ONNX only: other nodes that read the same stored tensor. */
  sharedWith?: string[];
}

export interface TargetResolution {
  match?: TargetMatch;
  /** Several targets fit equally well: an error unless a mapping settles it. */
  candidates?: TargetMatch[];
  /** Why nothing matched. */
  reason?: Phrase;
}

/** The shape a module's delta has in PyTorch layout ([out,in] / [out,in,k…] / [num,dim]). */
export function torchWeightShape(req: ModuleRequest): number[] | undefined {
  const s = req.module.deltaShape;
  if (s.length < 2) return undefined;
  return req.deltaKind === 'linear' && req.fanInFanOut ? [s[1], s[0]] : s;
}

export function deltaKindOf(m: AdapterModule): DeltaKind {
  if (m.embedding) return 'embedding';
  return m.deltaShape.length > 2 ? 'conv' : 'linear';
}

/**
 * Whether a delta of `delta`'s shape fits a tensor of `target`'s shape: the
 * same shape, or (a LoHa/LoKr conv stored flat, [out, in·k·k]) the same
 * numbers as the conv weight [out, in, k…] it is reshaped to.
 */
export function deltaFits(m: AdapterModule, delta: readonly number[], target: readonly number[]): boolean {
  if (sameShape(delta, target)) return true;
  const flattened = m.lycoris?.shape.flattened ?? false;
  return flattened && delta.length === 2 && target.length > 2 && target[0] === delta[0] && target.slice(1).reduce((a, b) => a * b, 1) === delta[1];
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Natural order for module paths: layers.2 before layers.10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** kohya names: every `.` became `_`. */
export const underscore = (s: string): string => s.replace(/\./g, '_');
