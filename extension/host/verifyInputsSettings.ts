/**
 * Per-model verification inputs (`modelfuse.verify.models` in settings.json):
 *
 *   "modelfuse.verify.models": {
 *     "models/det.onnx": { "shapes": { "x": [1, 3, 640, 640] }, "seed": 7 },
 *     "models/cls.onnx": { "inputs": "samples/crop.npy" }
 *   }
 *
 * keyed by the model's workspace-relative path; an inputs file is relative to
 * the model's folder. Pure (no vscode) so the parsing is unit-tested; the
 * command in commands/verificationInputs.ts reads and writes it.
 */
import * as path from 'node:path';
import { parseShapeOptions } from '../engine/stats/inputs';

export const MODELS_SETTING = 'verify.models';

export interface ModelVerifyInputs {
  shapes?: Record<string, number[]>;
  seed?: number;
  /** As stored: relative to the model's folder, or absolute. */
  inputs?: string;
}

export interface ModelVerifyInputsRead {
  value: ModelVerifyInputs;
  /** One line per invalid entry (the entry is ignored). */
  problems: string[];
}

/** The entry for one model, checked; an invalid part is reported and left out. */
export function readModelVerifyInputs(all: unknown, key: string): ModelVerifyInputsRead {
  const problems: string[] = [];
  const where = `modelfuse.verify.models["${key}"]`;
  if (all === undefined || all === null) return { value: {}, problems };
  if (typeof all !== 'object' || Array.isArray(all)) return { value: {}, problems: ['modelfuse.verify.models must be an object keyed by model path'] };
  const entry = (all as Record<string, unknown>)[key];
  if (entry === undefined) return { value: {}, problems };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { value: {}, problems: [`${where} must be an object with shapes, seed or inputs`] };
  const e = entry as Record<string, unknown>;
  const value: ModelVerifyInputs = {};
  if (e.shapes !== undefined) {
    const ok = typeof e.shapes === 'object' && e.shapes !== null && !Array.isArray(e.shapes)
      && Object.values(e.shapes).every((d) => Array.isArray(d) && d.length > 0 && d.every((x) => Number.isSafeInteger(x) && x > 0));
    // A copy: VS Code hands settings out as read-only proxies, which cannot be sent to the worker.
    if (ok) value.shapes = Object.fromEntries(Object.entries(e.shapes as Record<string, number[]>).map(([name, dims]) => [name, [...dims]]));
    else problems.push(`${where}.shapes must map input names to lists of positive integers, e.g. { "x": [1, 3, 640, 640] }`);
  }
  if (e.seed !== undefined) {
    if (Number.isSafeInteger(e.seed)) value.seed = e.seed as number;
    else problems.push(`${where}.seed must be an integer`);
  }
  if (e.inputs !== undefined) {
    if (typeof e.inputs === 'string' && /\.(safetensors|npy)$/i.test(e.inputs)) value.inputs = e.inputs;
    else problems.push(`${where}.inputs must be a .safetensors or .npy file`);
  }
  if (value.inputs !== undefined && (value.shapes || value.seed !== undefined)) {
    problems.push(`${where}: an inputs file fixes shapes and values; shapes and seed are ignored`);
    delete value.shapes;
    delete value.seed;
  }
  return { value, problems };
}

/** The entry as `verify` parameters: the inputs file resolved against the model's folder. */
export function verifyParamsOf(v: ModelVerifyInputs, modelPath: string): { shapes?: Record<string, number[]>; seed?: number; inputs?: string } {
  return {
    ...(v.shapes ? { shapes: v.shapes } : {}),
    ...(v.seed !== undefined ? { seed: v.seed } : {}),
    ...(v.inputs !== undefined ? { inputs: path.resolve(path.dirname(modelPath), v.inputs) } : {}),
  };
}

/** `x=1x3x640x640 mask=1x16` */
export function formatShapes(shapes: Readonly<Record<string, readonly number[]>>): string {
  return Object.entries(shapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' ');
}

/** The inverse of formatShapes; also accepts commas and semicolons between inputs. Throws ModelFuseError (worded for VS Code by host/remedyText.ts). */
export function parseShapesText(text: string): Record<string, number[]> {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  return parseShapeOptions(parts);
}

/** One line for a message: `shapes x=1x3x640x640, seed 7` or `inputs from crop.npy` or `chosen from the model`. */
export function describeModelInputs(v: ModelVerifyInputs): string {
  if (v.inputs !== undefined) return `inputs from ${v.inputs}`;
  const parts = [v.shapes ? `shapes ${formatShapes(v.shapes)}` : 'shapes chosen from the model', `seed ${v.seed ?? 0}`];
  return parts.join(', ');
}
