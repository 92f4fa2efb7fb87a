/**
 * Helpers for the LoRA tests: writing adapters and bases as real safetensors
 * files, a seeded random source, float64 reference math written from the
 * formulas (independent of the engine's code), and running CLI commands with
 * captured output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensorEntry, writeSafetensorsToFd, type SafetensorsDtype } from '../../../extension/engine/safetensors/safetensors';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { loraCommand } from '../../../extension/cli/loraCommand';
import { ModelFuseError } from '../../../extension/engine/errors';
import { cliErrorText } from '../../../extension/cli/remedyText';

export interface T {
  shape: number[];
  values: Float64Array;
  dtype?: SafetensorsDtype;
}

export function writeSafetensors(file: string, tensors: Record<string, T>, metadata?: Record<string, string>): void {
  const fd = fs.openSync(file, 'w');
  try {
    writeSafetensorsToFd(fd, Object.entries(tensors).map(([name, t]) => tensorEntry(name, t.dtype ?? 'F32', t.shape, t.values)), metadata);
  } finally {
    fs.closeSync(fd);
  }
}

export function readAll(file: string): Record<string, T> {
  const f = SafetensorsFile.open(file);
  try {
    const out: Record<string, T> = {};
    for (const e of f.entries.values()) out[e.name] = { shape: e.shape, values: f.readFloat64(e.name), dtype: e.dtype };
    return out;
  } finally {
    f.close();
  }
}

/** A PEFT adapter folder. */
export function writePeftAdapter(dir: string, config: Record<string, unknown>, tensors: Record<string, T>): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', ...config }));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  return dir;
}

/** Deterministic values in [-scale, scale), rounded to float32 so they survive an F32 file unchanged. */
export function rand(seed: number) {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return (shape: number[], scale = 1): T => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = Math.fround((next() * 2 - 1) * scale);
    return { shape, values };
  };
}

/** [m,k]·[k,n] in float64. */
export function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
    out[i * n + j] = s;
  }
  return out;
}

export function transpose64(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

export function addScaled(w: ArrayLike<number>, d: ArrayLike<number>, s: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] + s * d[i];
  return out;
}

/** max |a-b| / max(|b|, floor) */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor));
  return m;
}

/** Runs `modelfuse lora …` in-process; returns exit code and captured output, or the ModelFuseError's line as the CLI prints it. */
export async function runLora(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  try {
    const code = await loraCommand.run(argv, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
    return { code, out, err };
  } catch (e) {
    // the line `modelfuse lora` prints (cli.ts): the remedy worded as the CLI's flags
    if (e instanceof ModelFuseError) return { code: e.exitCode, out, err: err + cliErrorText(e) };
    throw e;
  }
}
