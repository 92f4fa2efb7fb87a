/**
 * Nothing half-written, nothing overwritten: every output goes to a temporary
 * file in the destination folder and is moved into place only once it is
 * complete. A failure (or a cancel, or a signal: see `removeLiveTemporaries`)
 * removes the temporaries and leaves the destination as it was.
 *
 * Without `force` the final step is an exclusive create (a hard link, which
 * fails if the name exists), so of two runs racing for the same output exactly
 * one wins and the other gets "file exists". Temporaries a killed run left
 * behind (its process is gone, or they are older than an hour) are removed by
 * the next write into the same folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileError, ModelFuseError } from '../errors';

/** `.NAME.tmp-PID-HEX`, optionally with a suffix (`.scratch`): the only names ModelFuse's cleanup ever removes. */
const TEMP_NAME = /^\..+\.tmp-(\d+)-[0-9a-f]{8}(?:\.[a-z]+)?$/;
/** A temporary older than this is stale even if a process with its pid exists (pids are reused). */
export const STALE_TEMPORARY_MS = 60 * 60 * 1000;

/** Temporaries this process is writing now; a signal handler removes them before the process exits. */
const liveTemporaries = new Set<string>();

/** A name a commit placed: `created` when it did not exist before (an exclusive commit), so taking it back restores the folder. */
export interface PlacedOutput {
  path: string;
  created: boolean;
}
type CommitListener = (placed: readonly PlacedOutput[]) => void;
const commitListeners = new Set<CommitListener>();

/**
 * Tells `listener` the names every later commit in this process places. The CLI's stop handler uses it:
 * a signal that arrives after the commit but before the command has ended must not leave an output
 * behind a non-zero exit. Returns the unsubscribe.
 */
export function onCommit(listener: CommitListener): () => void {
  commitListeners.add(listener);
  return () => commitListeners.delete(listener);
}

export function tempPathFor(target: string, pid: number = process.pid): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${pid}-${randomBytes(4).toString('hex')}`);
}

/** Registers a temporary (a file or folder) as being written by this process, until `forgetTemporary`. */
export function trackTemporary(temp: string): string {
  liveTemporaries.add(temp);
  return temp;
}

export function forgetTemporary(temp: string): void {
  liveTemporaries.delete(temp);
}

/** Removes every temporary this process is writing (synchronously: for signal handlers and deactivate). */
export function removeLiveTemporaries(): string[] {
  const removed = [...liveTemporaries];
  for (const t of removed) fs.rmSync(t, { force: true, recursive: true });
  liveTemporaries.clear();
  return removed;
}

/**
 * Removes ModelFuse temporaries in `dir` that no running writer owns: written
 * by a process that no longer exists, older than STALE_TEMPORARY_MS, or (with
 * `pids`) written by one of these processes — a worker just killed. Returns
 * the names removed. Never fails the write that calls it.
 */
export function removeStaleTemporaries(dir: string, pids?: readonly number[]): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const full = path.join(dir, name);
    if (liveTemporaries.has(full)) continue;
    const pid = Number(m[1]);
    try {
      const owned = pids ? pids.includes(pid) : pid !== process.pid && !processExists(pid);
      if (owned || Date.now() - fs.lstatSync(full).mtimeMs > STALE_TEMPORARY_MS) {
        fs.rmSync(full, { force: true, recursive: true });
        removed.push(name);
      }
    } catch {
      // gone meanwhile, or not ours to remove: leave it
    }
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, belongs to someone else
  }
}

/**
 * Refuse to write onto an input, onto any existing name without `force`
 * (a dangling symbolic link is a name that exists), and ever onto something
 * that is not a regular file or a link (a folder, FIFO or device).
 */
export function checkOutputPath(output: string, inputs: readonly string[], force: boolean): void {
  const resolved = path.resolve(output);
  for (const input of inputs) {
    if (sameFile(resolved, path.resolve(input)) && !force) {
      throw new ModelFuseError([`${output}: refusing to overwrite the input model`, { term: 'remedy', remedy: { kind: 'replace-output' } }], { code: 'output/is-input', data: { path: output } });
    }
  }
  if (/[\\/]$/.test(output)) throw fileError(output, 'names a folder; give the output file name');
  const existing = lstatOrNull(resolved);
  if (existing) {
    const kind = specialKind(existing);
    if (kind) throw fileError(output, `exists and is ${kind}, not a regular file; ModelFuse never replaces it (choose another output name)`);
    if (!force) throw fileError(output, [existing.isSymbolicLink() ? 'exists (a symbolic link)' : 'file exists', { term: 'remedy', remedy: { kind: 'replace-output' } }], undefined, undefined, { code: 'output/exists', data: { path: output } });
    if (existing.isSymbolicLink()) {
      // Forcing replaces the link itself, never what it points at; a link to a folder or device is refused as that.
      const target = statOrNull(resolved);
      const targetKind = target && specialKind(target);
      if (targetKind) throw fileError(output, `is a symbolic link to ${targetKind}; ModelFuse never replaces it`);
    }
  }
  const dir = path.dirname(resolved);
  const dirStat = statOrNull(dir);
  if (!dirStat) throw fileError(output, `output folder ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw fileError(output, `${dir} is not a folder`);
}

function specialKind(s: fs.Stats): string | null {
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  if (s.isSocket()) return 'a socket';
  return null;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
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
 * Moves a finished temporary to its final name. Without `force`: exclusively
 * (hard link, then unlink the temporary), so an existing name — created by a
 * concurrent writer since our check — is never replaced. With `force`: rename,
 * which replaces a regular file or link atomically.
 */
export function moveIntoPlace(temp: string, target: string, force: boolean): void {
  if (force) {
    const existing = lstatOrNull(target);
    const kind = existing && specialKind(existing);
    if (kind) throw fileError(target, `exists and is ${kind}, not a regular file; ModelFuse never replaces it`);
    fs.renameSync(temp, target);
    return;
  }
  try {
    fs.linkSync(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw fileError(target, ['file exists: another run wrote it meanwhile', { term: 'remedy', remedy: { kind: 'replace-output' } }], undefined, undefined, { code: 'output/written-meanwhile', data: { path: target } });
    // File systems without hard links: an exclusive copy is still exclusive, only not a single step.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    try {
      fs.copyFileSync(temp, target, fs.constants.COPYFILE_EXCL);
    } catch (copyErr) {
      if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') throw fileError(target, ['file exists: another run wrote it meanwhile', { term: 'remedy', remedy: { kind: 'replace-output' } }], undefined, undefined, { code: 'output/written-meanwhile', data: { path: target } });
      throw copyErr;
    }
  }
  fs.rmSync(temp, { force: true });
}

/**
 * A set of files written together (a model and its external-data file):
 * each is written under its final name inside one temporary folder beside
 * the targets (so a model's relative external-data location already works
 * there: it can be verified before it is committed), and `commit()` moves
 * them all into place, data files first so that a model never points at data
 * that is not there yet. If one cannot be placed (a racing writer took the
 * name), the ones already placed by this commit are removed again.
 */
export class AtomicFileSet {
  private readonly pending: { temp: string; target: string }[] = [];
  private folder: string | undefined;

  constructor(private readonly force = false) {}

  /** Returns the temporary path to write `target`'s content to (every target must be in the same folder). */
  add(target: string): string {
    const resolved = path.resolve(target);
    if (!this.folder) {
      removeStaleTemporaries(path.dirname(resolved));
      this.folder = trackTemporary(tempPathFor(resolved));
      fs.mkdirSync(this.folder);
    } else if (path.dirname(this.folder) !== path.dirname(resolved)) {
      throw new Error(`one atomic file set cannot span folders (${path.dirname(this.folder)} and ${path.dirname(resolved)})`);
    }
    const temp = path.join(this.folder, path.basename(resolved));
    if (this.pending.some((p) => p.temp === temp)) throw new Error(`${target} was added twice to one atomic file set`);
    this.pending.push({ temp, target });
    return temp;
  }

  /** The temporary path `target` is being written to. */
  tempOf(target: string): string | undefined {
    return this.pending.find((p) => p.target === target)?.temp;
  }

  commit(): void {
    const placed: string[] = [];
    const replaced = new Set<string>();
    try {
      for (const { temp, target } of this.pending) {
        if (this.force && lstatOrNull(target)) replaced.add(target);
        moveIntoPlace(temp, target, this.force);
        placed.push(target);
      }
    } catch (err) {
      // Without force every placed name was created by us just now: take them back.
      if (!this.force) for (const p of placed) fs.rmSync(p, { force: true });
      throw err;
    }
    this.pending.length = 0;
    this.removeFolder();
    const report = placed.map((p) => ({ path: path.resolve(p), created: !replaced.has(p) }));
    for (const listener of commitListeners) listener(report);
  }

  /**
   * A failed write(2) on a descriptor (ENOSPC, EIO, EFBIG) carries no path, so the user would read
   * "no space left" without knowing where: name the file being written (or the set's folder).
   */
  nameWriteError(err: unknown): void {
    const e = err as NodeJS.ErrnoException | null;
    if (!e || typeof e !== 'object' || typeof e.code !== 'string' || e.path || !this.folder) return;
    e.path = this.pending.length === 1 ? this.pending[0].temp : this.folder;
  }

  abort(): void {
    this.pending.length = 0;
    this.removeFolder();
  }

  private removeFolder(): void {
    if (!this.folder) return;
    fs.rmSync(this.folder, { recursive: true, force: true });
    forgetTemporary(this.folder);
    this.folder = undefined;
  }
}

export interface AtomicWriteOptions {
  /** Replace existing outputs (rename); otherwise the final step is exclusive. */
  force?: boolean;
  /** Called once everything is written, before the commit; false leaves nothing behind (e.g. a failed verification). */
  beforeCommit?: (files: AtomicFileSet) => Promise<boolean>;
}

/**
 * Runs `write` with a fresh AtomicFileSet; commits on success (exclusively
 * unless `force`, and only if `beforeCommit` agrees), removes every temporary
 * otherwise. Returns the write's result and whether it was committed.
 */
export async function writeAtomically<T>(write: (files: AtomicFileSet) => Promise<T> | T, options: AtomicWriteOptions = {}): Promise<T> {
  return (await writeAtomicallyIf(write, options)).result;
}

export async function writeAtomicallyIf<T>(
  write: (files: AtomicFileSet) => Promise<T> | T,
  options: AtomicWriteOptions = {},
): Promise<{ result: T; committed: boolean }> {
  const files = new AtomicFileSet(options.force ?? false);
  try {
    const result = await write(files);
    const committed = options.beforeCommit ? await options.beforeCommit(files) : true;
    if (committed) files.commit();
    else files.abort();
    return { result, committed };
  } catch (err) {
    files.nameWriteError(err);
    files.abort();
    throw err;
  }
}
