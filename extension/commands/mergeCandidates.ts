/**
 * What the pickers of "Merge LoRA Adapter…" offer, and in which order — pure
 * (paths in, rows out), so the rules are unit-tested without VS Code:
 *
 * - bases: the files the worker could open as a base (ONNX and safetensors,
 *   single or a sharded `*.safetensors.index.json`, whose shards are not
 *   offered on their own); the one beside the chosen adapter first, then the
 *   active and open models, then the rest by how near they are to the adapter;
 *   files that did not parse are listed apart with the reason.
 * - adapters: PEFT folders (holding adapter_config.json) and bare adapter
 *   .safetensors files (kohya, PEFT weights alone); the ones beside the base
 *   first and pre-checked.
 */
import * as path from 'node:path';
import type { UsableBase } from '../engine/lora/baseProbe';
import { shortCount } from '../../shared/format';

/** The files worth parsing as a possible base or adapter file. */
export function modelFilePaths(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const name = path.basename(p).toLowerCase();
    // Temporaries of an atomic write in progress (`.x.onnx.tmp-123-abcd`) are no one's model.
    if (/\.tmp-\d+-[0-9a-f]+$/.test(name)) continue;
    if (name.endsWith('.onnx') || name.endsWith('.safetensors') || name.endsWith('.safetensors.index.json')) out.add(p);
  }
  return [...out].sort();
}

export type BaseRelation = 'beside-adapter' | 'active' | 'open' | 'workspace';

export interface BaseRow {
  path: string;
  kind: UsableBase['kind'];
  relation: BaseRelation;
  /** One line: kind, size, why it is where it is. */
  description: string;
}

export interface BaseRowsInput {
  bases: readonly UsableBase[];
  /** The adapters chosen so far (folders or files); empty when the base is chosen first. */
  adapters: readonly string[];
  active?: string;
  open: readonly string[];
  /** Models ModelFuse itself wrote (fused or merged results): offered after the originals beside them. */
  ownResults?: readonly string[];
}

/** The folder an adapter lives in: a PEFT folder is the adapter itself, so its parent holds the base beside it. */
function adapterHome(adapter: string, isFile: boolean): string {
  return isFile ? path.dirname(adapter) : path.dirname(path.resolve(adapter));
}

const looksLikeFile = (p: string) => /\.safetensors$/i.test(p);

/** True when `base` sits in the folder of `adapter` (a file) or of the adapter folder's parent (or inside the adapter folder). */
export function isBeside(base: string, adapter: string): boolean {
  const dir = path.dirname(path.resolve(base));
  const a = path.resolve(adapter);
  return dir === adapterHome(a, looksLikeFile(a)) || (!looksLikeFile(a) && dir === a);
}

/** Path segments two locations share from the root: how near they are in the folder tree. */
export function closeness(a: string, b: string): number {
  const x = path.resolve(a).split(path.sep);
  const y = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return i;
}

export function baseRows(input: BaseRowsInput): BaseRow[] {
  const shards = new Set(input.bases.flatMap((b) => b.shards.map((s) => path.resolve(s))));
  const open = new Set(input.open.map((p) => path.resolve(p)));
  const active = input.active ? path.resolve(input.active) : undefined;
  const relationOf = (p: string): BaseRelation => {
    if (input.adapters.some((a) => isBeside(p, a))) return 'beside-adapter';
    if (path.resolve(p) === active) return 'active';
    return open.has(path.resolve(p)) ? 'open' : 'workspace';
  };
  const rank: Record<BaseRelation, number> = { 'beside-adapter': 0, active: 1, open: 2, workspace: 3 };
  const near = (p: string) => Math.max(0, ...input.adapters.map((a) => closeness(p, a)));
  // A merged result beside the adapter is a base too, but merging the same adapter into it again
  // is rarely what is meant: the original comes first and the result says what it is.
  const ours = new Set((input.ownResults ?? []).map((p) => path.resolve(p)));
  const isOurs = (p: string) => ours.has(path.resolve(p));
  const seen = new Set<string>();
  const rows: (BaseRow & { near: number })[] = [];
  for (const b of input.bases) {
    const key = path.resolve(b.path);
    if (seen.has(key) || shards.has(key)) continue;
    seen.add(key);
    const relation = relationOf(b.path);
    rows.push({ path: b.path, kind: b.kind, relation, description: describeBase(b, relation, isOurs(b.path)), near: near(b.path) });
  }
  rows.sort((a, b) => rank[a.relation] - rank[b.relation] || Number(isOurs(a.path)) - Number(isOurs(b.path)) || b.near - a.near || (a.kind === b.kind ? 0 : a.kind === 'onnx' ? -1 : 1) || a.path.localeCompare(b.path));
  return rows.map(({ near: _near, ...row }) => row);
}

function describeBase(b: UsableBase, relation: BaseRelation, ours: boolean): string {
  const kind = b.kind === 'onnx' ? 'ONNX' : b.shards.length ? `safetensors, ${b.shards.length} shards` : 'safetensors';
  const where = { 'beside-adapter': 'beside the adapter', active: 'active model', open: 'open', workspace: '' }[relation];
  return [where, ours ? 'written by ModelFuse' : '', `${kind} · ${shortCount(b.parameters)} parameters`].filter(Boolean).join(' · ');
}

export interface AdapterRow {
  path: string;
  kind: 'folder' | 'file';
  /** Checked when the picker opens. */
  picked: boolean;
  beside: boolean;
}

/**
 * Adapter folders (each holding adapter_config.json) and bare adapter files;
 * a file inside a listed folder is that folder's weights, not another adapter.
 * With a base known, adapters beside it come first and are pre-checked; else a
 * lone adapter is pre-checked (the common case: one adapter in the workspace).
 */
export function adapterRows(folders: readonly string[], files: readonly string[], base?: string): AdapterRow[] {
  const dirs = [...new Set(folders.map((f) => path.resolve(f)))];
  const bare = [...new Set(files.map((f) => path.resolve(f)))].filter((f) => !dirs.includes(path.dirname(f)));
  const all: AdapterRow[] = [...dirs.map((p) => ({ path: p, kind: 'folder' as const })), ...bare.map((p) => ({ path: p, kind: 'file' as const }))].map((r) => ({
    ...r,
    beside: base !== undefined && isBeside(base, r.path),
    picked: false,
  }));
  const anyBeside = all.some((r) => r.beside);
  for (const r of all) r.picked = anyBeside ? r.beside : all.length === 1;
  const near = (p: string) => (base ? closeness(p, base) : 0);
  return all.sort((a, b) => Number(b.beside) - Number(a.beside) || near(b.path) - near(a.path) || a.path.localeCompare(b.path));
}
