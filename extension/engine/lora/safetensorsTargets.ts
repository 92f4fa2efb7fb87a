/**
 * safetensors bases (one file, or shards listed by `model.safetensors.index.json`)
 * and matching adapter modules to their tensors. A state dict names tensors
 * `<module>.<param>` in PyTorch layout, so matching is by name: exact first,
 * then a dotted suffix either way (an adapter saved from `model.` vs a base
 * saved without it, diffusers' `unet.` prefix, …), and for kohya names by
 * comparing with every `.` replaced by `_`. More than one candidate is
 * ambiguous: an error listing them, never a guess.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../errors';
import { SafetensorsFile, type SafetensorsEntry } from '../safetensors/safetensors';
import { deltaFits, fmtShape, torchWeightShape, underscore, type ModuleRequest, type TargetMatch, type TargetResolution } from './targetTypes';

export interface BaseTensorInfo {
  name: string;
  dtype: SafetensorsEntry['dtype'];
  shape: number[];
  /** Index into `shards`. */
  shard: number;
}

export class SafetensorsBase {
  readonly tensors = new Map<string, BaseTensorInfo>();

  private constructor(
    readonly path: string,
    /** The shard files in index order (one entry for a single file). */
    readonly shards: SafetensorsFile[],
    /** Parsed index JSON for sharded bases (its metadata is copied to the output index). */
    readonly index: { metadata?: Record<string, unknown>; weight_map: Record<string, string> } | null,
  ) {
    shards.forEach((s, i) => {
      for (const e of s.entries.values()) this.tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, shard: i });
    });
  }

  static open(p: string): SafetensorsBase {
    if (!p.endsWith('.json')) return new SafetensorsBase(p, [SafetensorsFile.open(p)], null);
    let index: { metadata?: Record<string, unknown>; weight_map: Record<string, string> };
    try {
      index = JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch (err) {
      throw fileError(p, fs.existsSync(p) ? `not a valid JSON index (${(err as Error).message.split('\n')[0]})` : 'file not found');
    }
    if (!index || typeof index.weight_map !== 'object' || index.weight_map === null) throw fileError(p, "not a safetensors index (no 'weight_map')");
    const dir = path.dirname(p);
    const shardNames = [...new Set(Object.values(index.weight_map))];
    const shards: SafetensorsFile[] = [];
    try {
      for (const s of shardNames) {
        if (typeof s !== 'string' || s.includes('/') || s.includes('\\') || s.startsWith('.')) throw fileError(p, `shard name '${s}' must be a file beside the index`);
        shards.push(SafetensorsFile.open(path.join(dir, s)));
      }
    } catch (err) {
      for (const s of shards) s.close();
      throw err;
    }
    const base = new SafetensorsBase(p, shards, index);
    for (const [name, shard] of Object.entries(index.weight_map)) {
      const info = base.tensors.get(name);
      if (!info || shards[info.shard].path !== path.join(dir, shard)) throw fileError(p, `index lists '${name}' in ${shard}, which does not hold it`);
    }
    return base;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  readBytes(name: string): Buffer {
    const t = this.tensors.get(name);
    if (!t) throw fileError(this.path, `no tensor named '${name}'`);
    return this.shards[t.shard].readBytes(name);
  }

  close(): void {
    for (const s of this.shards) s.close();
  }
}

/** Resolves every request against a safetensors base. */
export function matchSafetensors(base: SafetensorsBase, requests: readonly ModuleRequest[]): Map<number, TargetResolution> {
  const byModule = new Map<string, string[]>(); // module path → params present
  for (const name of base.tensors.keys()) {
    const dot = name.lastIndexOf('.');
    if (dot <= 0) continue;
    const mod = name.slice(0, dot);
    const list = byModule.get(mod) ?? [];
    list.push(name.slice(dot + 1));
    byModule.set(mod, list);
  }
  const out = new Map<number, TargetResolution>();
  for (const req of requests) out.set(req.id, resolveOne(base, byModule, req));
  return out;
}

function resolveOne(base: SafetensorsBase, byModule: Map<string, string[]>, req: ModuleRequest): TargetResolution {
  const m = req.module;
  const needed = m.kind === 'replace' ? Object.keys(m.replacements ?? {}) : ['weight'];
  const has = (mod: string): boolean => needed.every((p) => byModule.get(mod)?.includes(p));
  let found: { mod: string; why: string }[] = [];
  if (m.underscored) {
    const want = underscore(m.module);
    for (const mod of byModule.keys()) {
      if (!has(mod)) continue;
      const u = underscore(mod);
      if (u === want) found.push({ mod, why: `'${mod}' equals kohya name '${m.module}' with '.' as '_'` });
    }
    if (found.length === 0) {
      for (const mod of byModule.keys()) {
        if (!has(mod)) continue;
        const u = underscore(mod);
        if (want.endsWith(`_${u}`) || u.endsWith(`_${want}`)) found.push({ mod, why: `'${mod}' and kohya name '${m.module}' agree up to a prefix` });
      }
    }
  } else if (has(m.module)) {
    found = [{ mod: m.module, why: `tensor name '${m.module}.${needed[0]}'` }];
  } else {
    for (const mod of byModule.keys()) {
      if (!has(mod)) continue;
      if (m.module.endsWith(`.${mod}`)) found.push({ mod, why: `'${mod}' is the adapter's '${m.module}' without its prefix` });
      else if (mod.endsWith(`.${m.module}`)) found.push({ mod, why: `'${mod}' ends with the adapter's '${m.module}'` });
    }
  }
  if (found.length === 0) return { reason: `no tensor '${m.module}.${needed[0]}' (or a prefixed variant) in the base` };
  const matches = found.map((f) => buildMatch(base, byModule, req, f.mod, f.why));
  if (matches.length > 1) return { candidates: matches };
  return { match: matches[0] };
}

function buildMatch(base: SafetensorsBase, byModule: Map<string, string[]>, req: ModuleRequest, mod: string, why: string): TargetMatch {
  const m = req.module;
  if (m.kind === 'replace') {
    const replacements: Record<string, string> = {};
    for (const p of Object.keys(m.replacements ?? {})) replacements[p] = `${mod}.${p}`;
    const first = Object.values(replacements)[0];
    return { target: first, shape: base.tensors.get(first)!.shape, transposed: false, replacements, evidence: [why, 'modules_to_save: whole tensors replace the base'] };
  }
  const target = `${mod}.weight`;
  const info = base.tensors.get(target)!;
  const evidence = [why];
  const expected = torchWeightShape(req);
  if (expected && deltaFits(m, expected, info.shape)) evidence.push(`shape ${fmtShape(info.shape)} fits the ${m.algorithm} ΔW ${fmtShape(expected)}`);
  const bias = byModule.get(mod)?.includes('bias') ? `${mod}.bias` : undefined;
  return { target, shape: info.shape, transposed: req.deltaKind === 'linear' && req.fanInFanOut, bias, evidence };
}
