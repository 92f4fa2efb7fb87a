/**
 * Where a command writes its result: beside the input, named by a pattern
 * from the settings (`${name}.fused${ext}` → `model.fused.onnx`), and never
 * over anything that exists — `model.fused-2.onnx`, `-3`, … instead. The
 * worker's atomic save refuses existing files as well, so a file created
 * between this choice and the write is still not overwritten.
 */
import * as path from 'node:path';
import { ModelFuseError } from '../engine/errors';

export const DEFAULT_FUSED_NAME = '${name}.fused${ext}';
export const DEFAULT_MERGED_NAME = '${name}.merged${ext}';

const VARIABLE = /\$\{(\w+)\}/g;

/** Why a naming pattern is unusable, or null. Checked when settings are read, so the message can name the setting. */
export function patternProblem(pattern: string): string | null {
  if (!pattern.includes('${name}')) return 'it must contain ${name}';
  if (/[\\/]/.test(pattern)) return 'it names a file beside the model, so it must not contain / or \\';
  for (const m of pattern.matchAll(VARIABLE)) if (m[1] !== 'name' && m[1] !== 'ext') return `unknown variable \${${m[1]}} (use \${name} and \${ext})`;
  return null;
}

/** `model.onnx` with `${name}.fused${ext}` → `model.fused.onnx`. */
export function expandName(inputPath: string, pattern: string): string {
  const problem = patternProblem(pattern);
  if (problem) throw new ModelFuseError(`output name pattern '${pattern}': ${problem}`);
  const ext = path.extname(inputPath);
  const name = path.basename(inputPath, ext);
  return pattern.replace(VARIABLE, (_, v: string) => (v === 'name' ? name : ext));
}

/**
 * The first free output path: the pattern's name, else `-2`, `-3`, … before
 * the extension. A path is free when neither it nor its external-data file
 * (`X.data`, which the save writes when weights are external) exists.
 */
export function freeOutputPath(inputPath: string, pattern: string, exists: (p: string) => boolean, limit = 1000): string {
  const dir = path.dirname(inputPath);
  const first = expandName(inputPath, pattern);
  const ext = path.extname(first);
  const stem = first.slice(0, first.length - ext.length);
  const input = path.resolve(inputPath);
  for (let i = 1; i <= limit; i++) {
    const candidate = path.join(dir, i === 1 ? first : `${stem}-${i}${ext}`);
    if (path.resolve(candidate) === input) continue;
    if (!exists(candidate) && !exists(`${candidate}.data`)) return candidate;
  }
  throw new ModelFuseError(`${inputPath}: no free output name (tried ${first} and ${limit - 1} numbered variants)`);
}

export type OnRepeat = 'newFile' | 'replace';

/**
 * Where a result goes: with `replace`, the pattern's own name when it is free
 * or holds a previous result ModelFuse wrote (`isOurs`) — that one is then
 * overwritten; otherwise (and with `newFile`) the first free name, so a file
 * ModelFuse did not write is never replaced.
 */
export function chooseOutputPath(
  inputPath: string,
  pattern: string,
  onRepeat: OnRepeat,
  exists: (p: string) => boolean,
  isOurs: (p: string) => boolean,
): { path: string; replaces: boolean } {
  if (onRepeat === 'replace') {
    const first = path.join(path.dirname(inputPath), expandName(inputPath, pattern));
    const dataOk = !exists(`${first}.data`) || isOurs(`${first}.data`);
    if (path.resolve(first) !== path.resolve(inputPath) && exists(first) && isOurs(first) && dataOk) {
      return { path: first, replaces: true };
    }
  }
  return { path: freeOutputPath(inputPath, pattern, exists), replaces: false };
}
