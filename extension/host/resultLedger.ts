/**
 * The results ModelFuse wrote (fused and merged models with their external
 * data or shards), remembered per workspace, so that
 * `modelfuse.output.onRepeat: replace` overwrites only a previous result of
 * its own and "Delete Fused Results…" offers only files ModelFuse wrote. A
 * file counts as ours while its size and modification time are the ones
 * recorded after the write: a file someone changed, replaced or re-created
 * since is not ours any more and is never replaced or deleted.
 *
 * Pure (storage and file system are passed in), so it is unit-tested without VS Code.
 */
import * as path from 'node:path';

export interface RecordedFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface ResultEntry {
  /** The model file (what the user opens); `files` also holds its external data or shards. */
  path: string;
  kind: 'fuse' | 'merge';
  /** The model it was made from. */
  source: string;
  files: RecordedFile[];
  /** ISO time of the write. */
  writtenAt: string;
}

export type ResultStatus = 'ours' | 'changed' | 'missing';

export interface LedgerStorage {
  read(): unknown;
  write(entries: ResultEntry[]): void | Thenable<void>;
}

export type StatFn = (p: string) => { size: number; mtimeMs: number } | undefined;

export class ResultLedger {
  constructor(private readonly storage: LedgerStorage, private readonly stat: StatFn) {}

  entries(): ResultEntry[] {
    const raw = this.storage.read();
    return Array.isArray(raw) ? raw.filter(isEntry) : [];
  }

  /** Records a result just written (its files as they are on disk now); replaces an older entry for the same path. */
  async record(entry: Omit<ResultEntry, 'files' | 'writtenAt'> & { files: readonly string[]; writtenAt?: string }): Promise<void> {
    const files: RecordedFile[] = [];
    for (const f of new Set([entry.path, ...entry.files])) {
      const s = this.stat(f);
      if (s) files.push({ path: path.resolve(f), size: s.size, mtimeMs: s.mtimeMs });
    }
    const key = path.resolve(entry.path);
    const others = this.entries().filter((e) => path.resolve(e.path) !== key);
    await this.storage.write([...others, { path: key, kind: entry.kind, source: entry.source, files, writtenAt: entry.writtenAt ?? new Date().toISOString() }]);
  }

  /** Whether every file of the entry is still exactly what ModelFuse wrote. */
  status(entry: ResultEntry): ResultStatus {
    let missing = 0;
    for (const f of entry.files) {
      const s = this.stat(f.path);
      if (!s) missing++;
      else if (s.size !== f.size || s.mtimeMs !== f.mtimeMs) return 'changed';
    }
    return missing === entry.files.length ? 'missing' : missing ? 'changed' : 'ours';
  }

  /** True when `file` is a file of a result ModelFuse wrote (the model, its external data or a shard) and nobody changed the result since. */
  isOurs(file: string): boolean {
    const key = path.resolve(file);
    const e = this.entries().find((x) => x.files.some((f) => f.path === key));
    return e !== undefined && this.status(e) === 'ours';
  }

  /** Results still ours, and how many recorded ones are not (changed by someone else) — missing ones are forgotten. */
  async current(): Promise<{ ours: ResultEntry[]; changed: ResultEntry[] }> {
    const all = this.entries();
    const ours: ResultEntry[] = [];
    const changed: ResultEntry[] = [];
    const keep: ResultEntry[] = [];
    for (const e of all) {
      const s = this.status(e);
      if (s === 'missing') continue;
      keep.push(e);
      (s === 'ours' ? ours : changed).push(e);
    }
    if (keep.length !== all.length) await this.storage.write(keep);
    return { ours, changed };
  }

  /** Forgets entries (after their files were deleted). */
  async forget(paths: readonly string[]): Promise<void> {
    const keys = new Set(paths.map((p) => path.resolve(p)));
    await this.storage.write(this.entries().filter((e) => !keys.has(path.resolve(e.path))));
  }
}

function isEntry(v: unknown): v is ResultEntry {
  const e = v as ResultEntry;
  return !!e && typeof e.path === 'string' && (e.kind === 'fuse' || e.kind === 'merge') && typeof e.source === 'string' && Array.isArray(e.files)
    && e.files.every((f) => f && typeof f.path === 'string' && typeof f.size === 'number' && typeof f.mtimeMs === 'number');
}
