/**
 * Nothing half-written, nothing overwritten: every output goes to a temporary
 * file in the destination folder and is renamed into place only once it is
 * complete. A failure (or a cancel) removes the temporaries and leaves the
 * destination as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ModelFuseError } from '../errors';

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Refuse to write onto an input (or any existing file without `force`). */
export function checkOutputPath(output: string, inputs: readonly string[], force: boolean): void {
  const resolved = path.resolve(output);
  for (const input of inputs) {
    if (sameFile(resolved, path.resolve(input)) && !force) {
      throw new ModelFuseError(`${output}: refusing to overwrite the input model (use --force to replace it)`);
    }
  }
  if (!force && fs.existsSync(resolved)) {
    throw new ModelFuseError(`${output}: file exists (use --force to replace it)`);
  }
  const dir = path.dirname(resolved);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ModelFuseError(`${output}: output folder ${dir} does not exist`);
  }
}

/** True when two paths name the same file (same path, or the same inode through a link). */
export function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/**
 * A set of files written together (a model and its external-data file):
 * each is written to a temporary, and `commit()` renames them all, data files
 * first so that a model never points at data that is not there yet.
 */
export class AtomicFileSet {
  private readonly pending: { temp: string; target: string }[] = [];

  /** Returns the temporary path to write `target`'s content to. */
  add(target: string): string {
    const temp = tempPathFor(target);
    this.pending.push({ temp, target });
    return temp;
  }

  commit(): void {
    for (const { temp, target } of this.pending) fs.renameSync(temp, target);
    this.pending.length = 0;
  }

  abort(): void {
    for (const { temp } of this.pending) fs.rmSync(temp, { force: true });
    this.pending.length = 0;
  }
}

/** Runs `write` with a fresh AtomicFileSet; commits on success, removes every temporary on failure. */
export async function writeAtomically<T>(write: (files: AtomicFileSet) => Promise<T> | T): Promise<T> {
  const files = new AtomicFileSet();
  try {
    const result = await write(files);
    files.commit();
    return result;
  } catch (err) {
    files.abort();
    throw err;
  }
}
