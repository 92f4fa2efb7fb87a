/**
 * Parameter-diff statistics between two models (original → fused, base →
 * merged, or any two the user compares): for every tensor whose values
 * changed, norms of before, after and the delta, the largest change, and
 * both value distributions on a shared axis; for folds, the per-channel
 * scale and shift they applied; for LoRA merges, the relative change and the
 * numerical rank of each merged delta.
 *
 * Tensors are paired by the fold record first (a fold that had to copy a
 * shared weight gives it a new name; a Conv without bias gets an added one),
 * then by equal names, then by place, content or module (placePairing.ts). Identical bytes are "unchanged" without converting
 * anything. Runs in the worker; only the summary leaves it.
 */
import { throwIfCancelled, type CancelToken } from '../errors';
import { DataType, dtypeName } from '../onnx/dtypes';
import { effectiveRank } from './effectiveRank';
import { DEFAULT_BINS, sharedHistogram } from './histogram';
import type { ParamSource } from './paramSource';
import { pairByPlace } from './placePairing';
import type {
  ChannelAffineStats, FoldRecord, FoldSummary, LoraLayerRecord, LoraLayerStats, ParamDiffSummary, TensorDiff, TensorRef,
} from './paramDiffTypes';

export interface ParamDiffOptions {
  folds?: readonly FoldRecord[];
  /** Per fold id: the channel map it applied (see foldChannels.ts). */
  foldChannels?: ReadonlyMap<string, ChannelAffineStats>;
  lora?: readonly LoraLayerRecord[];
  bins?: number;
  cancel?: CancelToken;
  onProgress?: (done: number, total: number, name: string) => void;
}

interface Pair {
  after: string;
  before: string | null;
  foldId?: string;
  loraTarget?: string;
}

/** Machine epsilon of a stored float type (the rounding unit of its values). */
export function dtypeEpsilon(dtype: number): number {
  switch (dtype) {
    case DataType.FLOAT16: return 2 ** -10;
    case DataType.BFLOAT16: return 2 ** -7;
    case DataType.DOUBLE: return Number.EPSILON;
    case DataType.FLOAT: return 2 ** -23;
    default: return 0; // integers are exact
  }
}

export function computeParamDiff(before: ParamSource, after: ParamSource, options: ParamDiffOptions = {}): ParamDiffSummary {
  const bins = options.bins ?? DEFAULT_BINS;
  const pairs = new Map<string, Pair>();
  for (const fold of options.folds ?? []) {
    for (const t of fold.changedTensors) pairs.set(t.after.name, { after: t.after.name, before: t.before?.name ?? null, foldId: fold.id });
  }
  for (const l of options.lora ?? []) {
    const p = pairs.get(l.target);
    pairs.set(l.target, { after: l.target, before: p?.before ?? l.target, loraTarget: l.target, ...(p?.foldId ? { foldId: p.foldId } : {}) });
  }
  const beforeNames = new Set(before.names());
  for (const name of after.names()) if (!pairs.has(name)) pairs.set(name, { after: name, before: beforeNames.has(name) ? name : null });
  // Renamed weights (Constant-node weights of paddle2onnx / tf2onnx, re-exports): by place, content, module. A fold's new tensor stays new.
  const claimed = new Set([...pairs.values()].map((p) => p.before).filter((n): n is string => n !== null));
  pairByPlace(before, after, [...pairs.values()].filter((p) => p.foldId === undefined), claimed);

  const used = new Set<string>();
  const changed: TensorDiff[] = [];
  let unchangedCount = 0;
  let unchangedParameters = 0;
  const list = [...pairs.values()];
  list.forEach((pair, i) => {
    throwIfCancelled(options.cancel);
    options.onProgress?.(i, list.length, pair.after);
    const a = after.info(pair.after);
    if (!a) return; // a fold record naming a tensor the second file does not have: nothing to compare
    const b = pair.before !== null ? before.info(pair.before) : undefined;
    if (pair.before !== null && b) used.add(pair.before);
    if (b && b.dtype === a.dtype && sameDims(b.dims, a.dims) && sameBytes(before.bytes(pair.before!), after.bytes(pair.after))) {
      unchangedCount++;
      unchangedParameters += count(a.dims);
      return;
    }
    changed.push(tensorDiff(before, after, pair, b ? pair.before : null, bins));
  });

  const removed: TensorRef[] = [];
  for (const name of beforeNames) {
    if (used.has(name)) continue;
    const info = before.info(name)!;
    removed.push({ name, shape: info.dims, dtype: dtypeName(info.dtype), module: before.moduleOf(name) });
  }

  const byName = new Map(changed.map((t) => [t.name, t]));
  const folds: FoldSummary[] = (options.folds ?? []).map((f) => {
    const channels = options.foldChannels?.get(f.id);
    return {
      id: f.id, pattern: f.pattern, nodes: f.nodes, modules: f.modules, removedNodes: f.removedNodes,
      tensors: f.changedTensors.map((t) => t.after.name),
      ...(channels ? { channels } : {}),
    };
  });
  for (const f of options.folds ?? []) {
    // The fold knows the module better than a generated tensor name does.
    for (const t of f.changedTensors) {
      const d = byName.get(t.after.name);
      if (d && !d.module && f.modules[0]) d.module = f.modules[0];
    }
  }

  const lora: LoraLayerStats[] = (options.lora ?? []).map((l) => loraStats(before, after, l, byName.get(l.target)));

  const side = (s: ParamSource) => {
    const names = s.names();
    return { path: s.path, tensors: names.length, parameters: names.reduce((n, k) => n + count(s.info(k)!.dims), 0) };
  };
  changed.sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true }));
  removed.sort((x, y) => x.name.localeCompare(y.name, 'en', { numeric: true }));
  return { before: side(before), after: side(after), bins, changed, unchangedCount, unchangedParameters, removed, folds, lora };
}

function tensorDiff(before: ParamSource, after: ParamSource, pair: Pair, beforeName: string | null, bins: number): TensorDiff {
  const a = after.info(pair.after)!;
  const w1 = after.values(pair.after);
  const b = beforeName !== null ? before.info(beforeName) : undefined;
  const w0 = beforeName !== null ? before.values(beforeName) : new Float64Array(w1.length);
  const comparable = w0.length === w1.length && (!b || sameDims(b.dims, a.dims));
  let n0 = 0;
  let n1 = 0;
  let nd = 0;
  let maxAbs = 0;
  for (let i = 0; i < w1.length; i++) n1 += w1[i] * w1[i];
  for (let i = 0; i < w0.length; i++) n0 += w0[i] * w0[i];
  if (comparable) {
    for (let i = 0; i < w1.length; i++) {
      const d = w1[i] - w0[i];
      nd += d * d;
      const ad = Math.abs(d);
      if (ad > maxAbs || Number.isNaN(ad)) maxAbs = ad;
    }
  }
  const normBefore = Math.sqrt(n0);
  const deltaNorm = comparable ? Math.sqrt(nd) : null;
  return {
    name: pair.after,
    beforeName,
    module: after.moduleOf(pair.after) ?? (beforeName ? before.moduleOf(beforeName) : null),
    shape: a.dims,
    ...(b && !sameDims(b.dims, a.dims) ? { shapeBefore: b.dims } : {}),
    dtype: dtypeName(a.dtype),
    elements: w1.length,
    status: beforeName === null ? 'added' : comparable ? 'changed' : 'reshaped',
    normBefore,
    normAfter: Math.sqrt(n1),
    deltaNorm,
    relativeChange: deltaNorm !== null && normBefore > 0 ? deltaNorm / normBefore : null,
    maxAbsDelta: comparable ? maxAbs : null,
    histogram: sharedHistogram(w0, w1, bins),
    ...(pair.foldId ? { foldId: pair.foldId } : {}),
    ...(pair.loraTarget ? { loraTarget: pair.loraTarget } : {}),
  };
}

function loraStats(before: ParamSource, after: ParamSource, l: LoraLayerRecord, diff: TensorDiff | undefined): LoraLayerStats {
  const base = {
    target: l.target, module: diff?.module ?? after.moduleOf(l.target), keys: l.keys, rank: l.rank, scale: l.scale,
    ...(l.adapter !== undefined ? { adapter: l.adapter } : {}),
  };
  if (!diff || diff.deltaNorm === null || diff.beforeName === null) {
    // Unchanged (a zero-initialised lora_B) or not comparable.
    return { ...base, relativeChange: diff ? diff.relativeChange : 0, deltaNorm: diff ? diff.deltaNorm : 0, effectiveRank: null };
  }
  const info = after.info(l.target)!;
  const w1 = after.values(l.target);
  const w0 = before.values(diff.beforeName);
  const delta = new Float64Array(w1.length);
  for (let i = 0; i < w1.length; i++) delta[i] = w1[i] - w0[i];
  const rows = info.dims[0] ?? 1;
  const cols = rows > 0 ? w1.length / rows : 0;
  const rms = Math.sqrt(Math.max(diff.normBefore ** 2, diff.normAfter ** 2) / Math.max(1, w1.length));
  const rank = effectiveRank(delta, rows, cols, { dtypeEpsilon: dtypeEpsilon(info.dtype), weightRms: rms, rankHint: l.rank });
  return { ...base, relativeChange: diff.relativeChange, deltaNorm: diff.deltaNorm, effectiveRank: rank };
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function count(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}
