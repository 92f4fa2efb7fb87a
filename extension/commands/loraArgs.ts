/**
 * Argument handling of "Merge LoRA Adapter…", pure: which of the resources
 * it was invoked on is the base and which are adapters, and what counts as an
 * adapter weight.
 */
import * as path from 'node:path';
import type { UriLike } from './commandArgs';

export type ResourceRole = 'base' | 'adapter' | 'unsupported';

/**
 * .onnx → base; a folder → adapter (PEFT's adapter_config.json +
 * adapter_model.safetensors); a .safetensors file → adapter when it holds
 * LoRA tensors, else a base checkpoint; anything else is not usable.
 */
export function roleOf(resource: UriLike, isFolder: boolean, safetensorsHoldsLora: boolean | undefined): ResourceRole {
  if (isFolder) return 'adapter';
  const ext = path.extname(resource.fsPath).toLowerCase();
  if (ext === '.onnx') return 'base';
  if (ext === '.safetensors') return safetensorsHoldsLora ? 'adapter' : 'base';
  return 'unsupported';
}

/** An adapter weight as typed in the InputBox: a finite number; 0 is refused (it would merge nothing). */
export function parseWeight(text: string): { weight: number } | { problem: string } {
  const t = text.trim();
  if (t === '') return { weight: 1 };
  const w = Number(t);
  if (!Number.isFinite(w)) return { problem: `'${t}' is not a number` };
  if (w === 0) return { problem: 'a weight of 0 merges nothing' };
  return { weight: w };
}

/** How an adapter is named in pickers: `adapter` folder or file name with its parent for context. */
export function adapterLabel(p: string): string {
  return `${path.basename(path.dirname(p))}/${path.basename(p)}`;
}
