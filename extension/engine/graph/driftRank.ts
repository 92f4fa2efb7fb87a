/**
 * "Locate drift": where between two models (an original and its fused or
 * merged version) the values start to differ.
 *
 * Probes are values both graphs compute under the same name (fuse and merge
 * keep value names: a Conv with its BN folded in writes the BN's output):
 * - the output of every node of B that changed or was added (the folds, the
 *   merged layers);
 * - every module boundary of B: a value produced inside a module and read
 *   outside it (or a graph output).
 *
 * The ranking: error propagates, so a broken fold early in the network makes
 * every later probe differ too — often by more. So the probes where drift
 * *starts* come first: an `origin` differs (relative error above the
 * threshold, default 1e-5, well above float32 rounding) while every probe it
 * reads from (its nearest probe ancestors in B) agrees; origins are ordered
 * by their relative error. The rest follow by the error each introduces —
 * its relative error minus the largest among the probes it reads from — and
 * then by relative error.
 */
import type { GraphAlignment } from './graphAlign';
import type { GraphView } from './graphViewTypes';

export interface DriftProbe {
  /** The value compared (same name in A and B). */
  value: string;
  /** The node of B producing it. */
  node: string;
  module: string;
  kind: 'fold' | 'module';
}

export interface ProbeError {
  value: string;
  /** ‖b − a‖₂ / ‖a‖₂ over all elements (robust to the near-zero elements that make max |Δ|/|a| explode). */
  relError: number;
  maxAbs: number;
  elements: number;
  /** Set when the value could not be compared (shape mismatch, not produced). */
  problem?: string;
}

export interface DriftEntry extends DriftProbe, ProbeError {
  /** relError minus the largest relError of the probes it reads from (≥ 0). */
  introduced: number;
  /** Drift starts here: this probe differs, the probes it reads from do not. */
  origin: boolean;
  /** The nearest probes upstream (value names). */
  upstream: string[];
}

export interface DriftReport {
  a: string;
  b: string;
  /** Ranked: most introduced error first. */
  entries: DriftEntry[];
  /** How many runs of each model it took (probes are compared a batch at a time to bound memory). */
  batches: number;
  inputs: string;
}

export function driftProbes(a: GraphView, b: GraphView, alignment: GraphAlignment): DriftProbe[] {
  const producedInA = new Set(a.nodes.flatMap((n) => n.outputs));
  const moduleOfNode = new Map(b.nodes.map((n) => [n.id, n.module]));
  const probes = new Map<string, DriftProbe>();
  const add = (value: string, node: string, kind: DriftProbe['kind']) => {
    if (value === '' || !producedInA.has(value) || probes.has(value)) return;
    probes.set(value, { value, node, module: moduleOfNode.get(node) ?? '', kind });
  };
  for (const n of b.nodes) {
    const change = alignment.changeInB[n.id];
    if (change === 'changed' || change === 'added') for (const o of n.outputs) add(o, n.id, 'fold');
  }
  const producer = new Map<string, string>();
  for (const n of b.nodes) for (const o of n.outputs) producer.set(o, n.id);
  const within = (inner: string, outer: string) => outer === '' || inner === outer || inner.startsWith(`${outer}.`);
  for (const e of b.edges) {
    const from = producer.get(e.value);
    if (!from) continue;
    const m = moduleOfNode.get(from) ?? '';
    const to = moduleOfNode.get(e.to);
    // Leaving the module: read by a node outside it, or a graph output.
    if (m !== '' && (to === undefined || !within(to, m))) add(e.value, from, 'module');
  }
  const order = new Map(b.nodes.map((n, i) => [n.id, i]));
  return [...probes.values()].sort((x, y) => order.get(x.node)! - order.get(y.node)!);
}

/** The nearest probes each probe reads from, walking B's dataflow upwards through non-probe values. */
export function upstreamProbes(b: GraphView, probes: readonly DriftProbe[]): Map<string, string[]> {
  const isProbe = new Set(probes.map((p) => p.value));
  const producer = new Map(b.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const out = new Map<string, string[]>();
  for (const p of probes) {
    const found = new Set<string>();
    const seen = new Set<string>();
    const stack = [...(producer.get(p.value)?.inputs ?? [])];
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      if (isProbe.has(v)) {
        found.add(v);
        continue;
      }
      stack.push(...(producer.get(v)?.inputs ?? []));
    }
    out.set(p.value, [...found]);
  }
  return out;
}

export const DRIFT_THRESHOLD = 1e-5;

export function rankDrift(b: GraphView, probes: readonly DriftProbe[], errors: ReadonlyMap<string, ProbeError>, threshold = DRIFT_THRESHOLD): DriftEntry[] {
  const upstream = upstreamProbes(b, probes);
  const entries: DriftEntry[] = [];
  for (const p of probes) {
    const e = errors.get(p.value);
    if (!e) continue;
    const ups = upstream.get(p.value) ?? [];
    const inherited = Math.max(0, ...ups.map((u) => errors.get(u)?.relError ?? 0).filter(Number.isFinite));
    const introduced = Number.isFinite(e.relError) ? Math.max(0, e.relError - inherited) : Infinity;
    const origin = !(e.relError <= threshold) && ups.every((u) => (errors.get(u)?.relError ?? 0) <= threshold);
    entries.push({ ...p, ...e, introduced, origin, upstream: ups });
  }
  const order = new Map(probes.map((p, i) => [p.value, i]));
  const byError = (x: DriftEntry, y: DriftEntry) => y.relError - x.relError || order.get(x.value)! - order.get(y.value)!;
  return entries.sort((x, y) => Number(y.origin) - Number(x.origin) || (x.origin ? byError(x, y) : y.introduced - x.introduced || byError(x, y)));
}

/** ‖b − a‖ / ‖a‖ and max |b − a| of two equally long arrays (NaN/Inf where one side is not finite and they differ). */
export function probeError(value: string, a: ArrayLike<number>, b: ArrayLike<number>): ProbeError {
  if (a.length !== b.length) return { value, relError: Infinity, maxAbs: Infinity, elements: a.length, problem: `${a.length} elements in A, ${b.length} in B` };
  let diff = 0;
  let norm = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) {
      norm += x * x;
      continue;
    }
    const d = y - x;
    diff += d * d;
    norm += x * x;
    const ad = Math.abs(d);
    if (!(ad <= maxAbs)) maxAbs = ad;
  }
  const rel = diff === 0 ? 0 : norm === 0 ? Infinity : Math.sqrt(diff / norm);
  return { value, relError: Number.isNaN(rel) ? Infinity : rel, maxAbs: Number.isNaN(maxAbs) ? Infinity : maxAbs, elements: a.length };
}
