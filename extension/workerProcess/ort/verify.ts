/**
 * verify(A, B): both models run on the same inputs with ONNX Runtime's graph
 * optimizations DISABLED (so ORT's own fusions cannot hide a difference, or
 * make one), outputs compared by name, then the latency of both at `disabled`
 * and at `all`.
 *
 * At the cost of running the two models, no more: one session is alive at a
 * time (A is released before B is loaded), A's outputs are kept in their own
 * dtype while B runs, and each output is compared and dropped in turn, so
 * only the statistics remain. Peak memory is that of the larger model's run
 * plus A's outputs, not of both sessions. Latency runs stop early when a
 * model's runs exceed a time budget, so a slow model does not take minutes.
 */
import { ModelFuseError } from '../../engine/errors';
import { checkInputsFit } from '../../engine/stats/inputs';
import { prepareVerifyInputs } from '../../engine/stats/verifyInputs';
import { constantOutputReason } from '../../engine/stats/weakCheck';
import { DEFAULT_TOLERANCE, diffStats, failureReason, type Tolerance } from '../../engine/stats/outputDiff';
import type { LatencyPair, OutputReport, VerifyParams, VerifyReport } from '../../protocol/workerProtocol';
import type { Tensor } from 'onnxruntime-node';
import { timeInterleaved, type RunControl, type Timing } from './latency';
import { runSession } from './run';
import { createSession, releaseSession, type Session } from './runtime';
import { feedsOf, outputValues, sessionInputs, type OutputValues } from './tensors';

export const DEFAULT_RUNS = 20;
export const DEFAULT_WARMUPS = 2;

function checkParams(p: VerifyParams): { tol: Tolerance; runs: number; warmups: number } {
  const tol = { atol: p.atol ?? DEFAULT_TOLERANCE.atol, rtol: p.rtol ?? DEFAULT_TOLERANCE.rtol };
  if (!(Number.isFinite(tol.atol) && tol.atol >= 0)) throw new ModelFuseError(`atol must be a non-negative number, not ${p.atol}`);
  if (!(Number.isFinite(tol.rtol) && tol.rtol >= 0)) throw new ModelFuseError(`rtol must be a non-negative number, not ${p.rtol}`);
  const runs = p.runs ?? DEFAULT_RUNS;
  const warmups = p.warmups ?? DEFAULT_WARMUPS;
  if (!Number.isSafeInteger(runs) || runs < 0) throw new ModelFuseError(`runs must be a non-negative integer, not ${p.runs}`);
  if (!Number.isSafeInteger(warmups) || warmups < 0) throw new ModelFuseError(`warmups must be a non-negative integer, not ${p.warmups}`);
  if (p.seed !== undefined && !Number.isSafeInteger(p.seed)) throw new ModelFuseError(`seed must be an integer, not ${p.seed}`);
  if (p.inputs !== undefined && (p.shapes || p.intRange || p.seed !== undefined)) {
    throw new ModelFuseError('--shape, --int-range and --seed describe random inputs; they cannot be combined with --inputs');
  }
  return { tol, runs, warmups };
}

/** Timed runs of one model at one level stop after this much time (but never before MIN_TIMED_RUNS). */
export const LATENCY_BUDGET_MS = 5000;
const MIN_TIMED_RUNS = 3;

export async function verifyModels(p: VerifyParams, control: RunControl): Promise<VerifyReport> {
  const { tol, runs, warmups } = checkParams(p);
  let session: Session | undefined;
  const open = async (label: 'A' | 'B', level: 'disabled' | 'all'): Promise<Session> => {
    await releaseSession(session); // never two sessions at once
    session = undefined;
    control.progress(`loading ${label}${level === 'all' ? ' at ORT level all' : ''}`);
    session = await createSession(label === 'A' ? p.modelA : p.modelB, level);
    control.throwIfCancelled();
    return session;
  };
  const time = async (label: 'A' | 'B', s: Session, feeds: Record<string, Tensor>, level: string): Promise<Timing> =>
    (await timeInterleaved([{ label, session: s, modelPath: label === 'A' ? p.modelA : p.modelB, feeds }], runs, warmups, control, `at ORT level ${level}`, { budgetMs: LATENCY_BUDGET_MS, minRuns: MIN_TIMED_RUNS }))[0];
  try {
    const sessA = await open('A', 'disabled');
    const prepared = prepareVerifyInputs(p.modelA, sessionInputs(sessA, p.modelA), p);
    const feeds = feedsOf(prepared.tensors);
    control.progress('running A');
    const outputsA = new Map(Object.entries(await runSession(sessA, feeds, p.modelA)));
    const namesA = sessA.outputNames;
    // An output of A that does not depend on this input (constant, all zeros) makes a match prove nothing.
    const constantOutputReasons = constantOutputs(Object.fromEntries(outputsA), namesA, p.modelA);
    control.throwIfCancelled();
    const aDisabled = runs > 0 ? await time('A', sessA, feeds, 'disabled') : undefined;

    const sessB = await open('B', 'disabled');
    checkInputsFit(p.modelB, sessionInputs(sessB, p.modelB), prepared.tensors, p.modelA);
    control.progress('running B');
    const outputsB = new Map(Object.entries(await runSession(sessB, feeds, p.modelB)));
    control.throwIfCancelled();
    control.progress('comparing outputs');
    // One output at a time, as float64 only while it is compared; A's copy is dropped once it has been.
    const outputs = compareOutputs(
      namesA.map((n) => [n, () => outputValues(outputsA.get(n)!, n, p.modelA)] as const),
      sessB.outputNames.map((n) => [n, () => outputValues(outputsB.get(n)!, n, p.modelB)] as const),
      tol,
      (name) => {
        outputsA.delete(name);
        outputsB.delete(name);
      },
    );
    const bDisabled = runs > 0 ? await time('B', sessB, feeds, 'disabled') : undefined;

    let latency: VerifyReport['latency_ms'] = null;
    if (aDisabled && bDisabled) {
      const aAll = await time('A', await open('A', 'all'), feeds, 'all');
      const bAll = await time('B', await open('B', 'all'), feeds, 'all');
      const pair = (d: Timing, a: Timing): LatencyPair => ({ disabled: d.median_ms, all: a.median_ms });
      // The fewest runs any of the four timings made (the budget may have cut a slow model's short).
      latency = { runs: Math.min(...[aDisabled, bDisabled, aAll, bAll].map((t) => t.runs)), warmups, a: pair(aDisabled, aAll), b: pair(bDisabled, bAll) };
    }

    return {
      passed: Object.values(outputs).every((o) => o.passed),
      a: p.modelA,
      b: p.modelB,
      tolerance: tol,
      outputs,
      latency_ms: latency,
      inputs: prepared.description,
      weak: [...prepared.weak, ...constantOutputReasons],
    };
  } finally {
    await releaseSession(session);
  }
}

/** Outputs of the reference model that do not depend on this input (constant, all zeros): a match there proves nothing. */
function constantOutputs(raw: Awaited<ReturnType<typeof runSession>>, names: readonly string[], modelPath: string): string[] {
  return names.map((n) => constantOutputReason(n, outputValues(raw[n], n, modelPath).values)).filter((r): r is string => r !== null);
}

const NULL_STATS = {
  max_abs: null, mean_abs: null, median_abs: null, p99_abs: null, max_rel: null, mean_rel: null, median_rel: null, p99_rel: null, cosine: null,
} as const;

/** An output's values, produced when it is compared (so only one output at a time is held as float64). */
export type LazyOutput = OutputValues | (() => OutputValues);

const valuesOf = (o: LazyOutput): OutputValues => (typeof o === 'function' ? o() : o);

/**
 * Matches outputs by name; a missing or extra output, or a shape mismatch,
 * fails with its reason. `compared(name)` is called once an output is done
 * with, so its caller can drop it.
 */
export function compareOutputs(
  a: readonly (readonly [string, LazyOutput])[],
  b: readonly (readonly [string, LazyOutput])[],
  tol: Tolerance,
  compared?: (name: string) => void,
): Record<string, OutputReport> {
  const mapB = new Map(b);
  const out: Record<string, OutputReport> = {};
  for (const [name, lazyA] of a) {
    const va = valuesOf(lazyA);
    const lazyB = mapB.get(name);
    if (!lazyB) {
      out[name] = { ...NULL_STATS, passed: false, reason: 'missing in B', dtype: va.dtype, shape: va.dims, elements: va.values.length, mismatched: va.values.length, nonfinite_mismatched: 0 };
      compared?.(name);
      continue;
    }
    const vb = valuesOf(lazyB);
    compared?.(name);
    const extra = {
      ...(vb.dtype !== va.dtype ? { dtype_b: vb.dtype } : {}),
      ...(!sameDims(va.dims, vb.dims) ? { shape_b: vb.dims } : {}),
    };
    if (!sameDims(va.dims, vb.dims)) {
      out[name] = {
        ...NULL_STATS, passed: false, reason: `shape [${va.dims.join(', ')}] in A but [${vb.dims.join(', ')}] in B`,
        dtype: va.dtype, shape: va.dims, ...extra, elements: va.values.length, mismatched: va.values.length, nonfinite_mismatched: 0,
      };
      continue;
    }
    const s = diffStats(va.values, vb.values, tol);
    const reason = failureReason(s, tol);
    out[name] = {
      max_abs: s.max_abs, mean_abs: s.mean_abs, median_abs: s.median_abs, p99_abs: s.p99_abs,
      max_rel: s.max_rel, mean_rel: s.mean_rel, median_rel: s.median_rel, p99_rel: s.p99_rel,
      cosine: s.cosine, passed: s.passed, ...(reason ? { reason } : {}),
      dtype: va.dtype, shape: va.dims, ...extra, elements: s.elements, mismatched: s.mismatched, nonfinite_mismatched: s.nonfinite_mismatched,
    };
  }
  const namesA = new Set(a.map(([n]) => n));
  for (const [name, lazyB] of b) {
    if (namesA.has(name)) continue;
    const vb = valuesOf(lazyB);
    out[name] = { ...NULL_STATS, passed: false, reason: 'extra output in B (not in A)', dtype: vb.dtype, shape: vb.dims, elements: vb.values.length, mismatched: vb.values.length, nonfinite_mismatched: 0 };
  }
  return out;
}

function sameDims(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}
