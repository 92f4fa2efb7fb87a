/**
 * Whether a file can be the base of a LoRA merge, found by parsing it the way
 * the merge will (ONNX with weights on demand; a safetensors file or sharded
 * index with its shard headers) — so a picker offers only files a merge can
 * open, and says why it left the others out. Reads headers and the graph,
 * never the weight bytes.
 */
import { ModelFuseError } from '../errors';
import { OnnxModel } from '../onnx/model';
import { tensorElementCount } from '../onnx/tensors';
import { findWeightUses } from './onnxTargets';
import { baseKindOf } from './plan';
import { SafetensorsBase } from './safetensorsTargets';

export interface UsableBase {
  path: string;
  kind: 'onnx' | 'safetensors';
  /** Weight tensors a delta could go into (ONNX: initializers read by MatMul/Gemm/Conv/Gather; safetensors: all). */
  weights: number;
  /** Elements in all stored tensors. */
  parameters: number;
  /** A sharded index: its shard files (absolute), which are not bases of their own. */
  shards: string[];
}

export type BaseProbe =
  | { usable: true; base: UsableBase }
  /** `adapter`: the file holds LoRA tensors — an adapter, not a base (not a problem worth a note). */
  | { usable: false; path: string; reason: string; adapter: boolean };

/** LoRA keys of PEFT (lora_A/B, lora_embedding_A/B) and kohya (lora_down/up). */
const LORA_KEY = /(^|\.)(lora_(A|B|down|up)|lora_embedding_(A|B))(\.|$)/;

export function probeBase(file: string): BaseProbe {
  try {
    const kind = baseKindOf(file);
    return kind === 'onnx' ? probeOnnx(file) : probeSafetensors(file);
  } catch (err) {
    // One unreadable file must not stop a picker listing the others: every failure becomes its reason.
    if (!(err instanceof ModelFuseError)) return { usable: false, path: file, reason: `cannot be read (${String((err as Error)?.message ?? err).split('\n')[0]})`, adapter: false };
    // fileError messages start with the path; the picker shows the path already.
    const reason = err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message;
    return { usable: false, path: file, reason, adapter: false };
  }
}

function probeOnnx(file: string): BaseProbe {
  const model = OnnxModel.load(file, { weights: 'on-demand' });
  try {
    const uses = findWeightUses(model);
    if (uses.length === 0) {
      return { usable: false, path: file, reason: 'no MatMul, Gemm, Conv or Gather reads a weight initializer: nothing an adapter could change', adapter: false };
    }
    const parameters = (model.graph.initializer ?? []).reduce((n, t) => n + tensorElementCount(t), 0);
    return { usable: true, base: { path: file, kind: 'onnx', weights: new Set(uses.map((u) => u.initializer)).size, parameters, shards: [] } };
  } finally {
    model.close();
  }
}

function probeSafetensors(file: string): BaseProbe {
  const base = SafetensorsBase.open(file);
  try {
    const names = base.names();
    if (names.length === 0) return { usable: false, path: file, reason: 'holds no tensors', adapter: false };
    if (names.some((n) => LORA_KEY.test(n))) return { usable: false, path: file, reason: 'holds LoRA tensors: an adapter, not a base', adapter: true };
    const parameters = [...base.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const shards = base.index ? base.shards.map((s) => s.path) : [];
    return { usable: true, base: { path: file, kind: 'safetensors', weights: names.length, parameters, shards } };
  } finally {
    base.close();
  }
}
