/**
 * The parameters of one module, summarised for the inspector: shape, dtype,
 * range, mean, standard deviation, L2 norm, zeros, NaN/Inf, and a histogram.
 * A module's own tensors come first, then those of its submodules (capped:
 * a whole transformer block has hundreds).
 */
import { dtypeName } from '../onnx/dtypes';
import { sharedHistogram, DEFAULT_BINS } from './histogram';
import type { ParamSource } from './paramSource';
import { MAX_INSPECTED_TENSORS, type ParamStats, type ModuleInspection } from './moduleParamsTypes';
export * from './moduleParamsTypes';

export function inspectModule(source: ParamSource, module: string, bins = DEFAULT_BINS): ModuleInspection {
  const own: string[] = [];
  const nested: string[] = [];
  for (const name of source.names()) {
    const m = source.moduleOf(name);
    if (m === (module === '' ? null : module)) own.push(name);
    else if (module !== '' && m !== null && m.startsWith(`${module}.`)) nested.push(name);
  }
  const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
  // PyTorch's order within a module: weight, bias, then the rest (running_mean, …).
  const roleRank = (n: string) => (n.endsWith('.weight') || n === 'weight' ? 0 : n.endsWith('.bias') || n === 'bias' ? 1 : 2);
  own.sort((a, b) => roleRank(a) - roleRank(b) || natural(a, b));
  // Submodules in the order the file first mentions them (the model's order: conv1 before bn1), weight and bias first within each.
  const moduleRank = new Map<string, number>();
  for (const n of nested) {
    const m = source.moduleOf(n)!;
    if (!moduleRank.has(m)) moduleRank.set(m, moduleRank.size);
  }
  nested.sort((a, b) => moduleRank.get(source.moduleOf(a)!)! - moduleRank.get(source.moduleOf(b)!)! || roleRank(a) - roleRank(b) || natural(a, b));
  const all = [...own, ...nested];
  const shown = all.slice(0, MAX_INSPECTED_TENSORS);
  let parameters = 0;
  for (const n of all) parameters += source.info(n)!.dims.reduce((x, d) => x * d, 1);
  return { path: source.path, module, tensors: shown.map((n) => paramStats(source, n, bins)), omitted: all.length - shown.length, parameters };
}

export function paramStats(source: ParamSource, name: string, bins = DEFAULT_BINS): ParamStats {
  const info = source.info(name)!;
  const v = source.values(name);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let finite = 0;
  let zeros = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x === 0) zeros++;
    if (!Number.isFinite(x)) continue;
    finite++;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    sq += x * x;
  }
  const mean = finite ? sum / finite : null;
  // Two-pass variance: the one-pass formula cancels catastrophically for weights far from zero.
  let m2 = 0;
  if (mean !== null) for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i])) m2 += (v[i] - mean) ** 2;
  const h = sharedHistogram(v, [], bins);
  return {
    name,
    module: source.moduleOf(name),
    shape: info.dims,
    dtype: dtypeName(info.dtype),
    elements: v.length,
    min: finite ? min : null,
    max: finite ? max : null,
    mean,
    std: finite ? Math.sqrt(m2 / finite) : null,
    l2: Math.sqrt(sq),
    zeros,
    nonFinite: v.length - finite,
    histogram: { min: h.min, max: h.max, counts: h.before },
  };
}
