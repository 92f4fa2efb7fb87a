/**
 * Finds the workspace file a Python import names: `.blocks` beside the
 * importing file, `..ops.misc` one package up, `mypkg.layers` under a root
 * (the workspace folders, the importing file's folder). Plain files only;
 * installed packages are not read (their names are not the user's code).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImportReader } from './analyzePython';

/** Imported files larger than this are not read (a model file is a few tens of KB). */
const MAX_IMPORTED_BYTES = 1 << 20;

export function importCandidates(module: string, fromFile: string, roots: readonly string[]): string[] {
  const dots = /^\.*/.exec(module)![0].length;
  const parts = module.slice(dots).split('.').filter((p) => p !== '');
  const bases = dots > 0 ? [path.resolve(path.dirname(fromFile), ...Array<string>(dots - 1).fill('..'))] : [...roots, path.dirname(fromFile)];
  return bases.flatMap((base) => (parts.length === 0 ? [path.join(base, '__init__.py')] : [path.join(base, ...parts) + '.py', path.join(base, ...parts, '__init__.py')]));
}

/** Reads imports from disk; `roots` are where absolute imports start. */
export function fileImportReader(fromFile: string, roots: readonly string[]): ImportReader {
  return async (module) => {
    for (const candidate of importCandidates(module, fromFile, roots)) {
      try {
        const stat = await fs.promises.stat(candidate);
        if (stat.isFile() && stat.size <= MAX_IMPORTED_BYTES && path.resolve(candidate) !== path.resolve(fromFile)) return await fs.promises.readFile(candidate, 'utf8');
      } catch {
        /* not there: try the next place */
      }
    }
    return undefined;
  };
}
