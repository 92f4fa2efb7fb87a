/**
 * `--python FILE.py` for scan and fuse-list: the model's Python definition, analysed as py-scan
 * does, names the BatchNorms the exporter folded away when no state dict named them
 * (engine/graph/pythonFolds.ts). Never guessed from files nearby: a folder can hold many models.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePythonSource } from '../engine/python/analyzePython';
import { fileImportReader } from '../engine/python/importFiles';
import { ModelFuseError } from '../engine/errors';
import type { PythonDefinition } from '../engine/graph/pythonFolds';
import type { CliIO } from './command';
import { optValue, type OptionSpec, type ParsedArgs } from './args';

export const PYTHON_OPTION: Record<string, OptionSpec> = { python: { value: true } };

export async function pythonDefinition(args: ParsedArgs, io: CliIO): Promise<PythonDefinition | undefined> {
  const file = optValue(args, 'python');
  if (file === undefined) return undefined;
  const analysis = await analyzePythonSource(readSource(file), undefined, fileImportReader(path.resolve(file), [process.cwd()]));
  // Classes near a syntax error may be missed: fewer BatchNorms named, never a wrong one; say why.
  if (analysis.hasSyntaxErrors) io.err(`note: ${file} has syntax errors; classes near them may be missed`);
  return { file: path.basename(file), classes: analysis.classes };
}

/** A Python source file as text: one clear error for a folder, a missing or unreadable file, or binary content. */
export function readSource(file: string): string {
  let bytes: Buffer;
  try {
    if (fs.statSync(file).isDirectory()) throw new ModelFuseError(`${file} is a folder, not a Python file`);
    bytes = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof ModelFuseError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFuseError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err)}`);
  }
  if (bytes.includes(0)) throw new ModelFuseError(`${file} is not a Python source file (it contains NUL bytes)`);
  return bytes.toString('utf8');
}
