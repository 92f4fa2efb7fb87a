/**
 * verify(A, B): both models run on the same inputs with ONNX Runtime's graph
 * optimizations DISABLED (so ORT's own fusions cannot hide a difference, or
 * make one), outputs compared by name, then the latency of both at `disabled`
 * and at `all`.
 */
import { ModelFuseError } from '../../engine/errors';
import { SafetensorsFile } from '../../engine/safetensors/safetensors';
import { checkInputsFit, inputsFromSafetensors, randomInputs, type PreparedInputs } from '../../engine/stats/inputs';
import { DEFAULT_TOLERANCE, diffStats, failureReason, type Tolerance } from '../../engine/stats/outputDiff';
import type { LatencyPair, OutputReport, VerifyParams, VerifyReport } from '../../protocol/workerProtocol';
import { timeInterleaved, type RunControl } from './latency';
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

export async function verifyModels(p: VerifyParams, control: RunControl): Promise<VerifyReport> {
  const { tol, runs, warmups } = checkParams(p);
  let sessA: Session | undefined;
  let sessB: Session | undefined;
  try {
    control.progress('loading A');
    sessA = await createSession(p.modelA, 'disabled');
    control.throwIfCancelled();
    control.progress('loading B');
    sessB = await createSession(p.modelB, 'disabled');
    control.throwIfCancelled();

    const specsA = sessionInputs(sessA, p.modelA);
    const prepared = prepareInputs(p, specsA);
    checkInputsFit(p.modelB, sessionInputs(sessB, p.modelB), prepared.tensors, p.modelA);
    const feeds = feedsOf(prepared.tensors);

    control.progress('running A');
    const rawA = await runSession(sessA, feeds, p.modelA);
    control.throwIfCancelled();
    control.progress('running B');
    const rawB = await runSession(sessB, feeds, p.modelB);
    control.throwIfCancelled();

    control.progress('comparing outputs');
    const outputs = compareOutputs(
      sessA.outputNames.map((n) => [n, outputValues(rawA[n], n, p.modelA)] as const),
      sessB.outputNames.map((n) => [n, outputValues(rawB[n], n, p.modelB)] as const),
      tol,
    );

    let latency: VerifyReport['latency_ms'] = null;
    if (runs > 0) {
      const disabled = await timeInterleaved(
        [{ label: 'A', session: sessA, modelPath: p.modelA, feeds }, { label: 'B', session: sessB, modelPath: p.modelB, feeds }],
        runs, warmups, control, 'at ORT level disabled',
      );
      await releaseSession(sessA);
      await releaseSession(sessB);
      sessA = sessB = undefined;
      control.progress('loading A and B at ORT level all');
      sessA = await createSession(p.modelA, 'all');
      sessB = await createSession(p.modelB, 'all');
      const all = await timeInterleaved(
        [{ label: 'A', session: sessA, modelPath: p.modelA, feeds }, { label: 'B', session: sessB, modelPath: p.modelB, feeds }],
        runs, warmups, control, 'at ORT level all',
      );
      const pair = (i: number): LatencyPair => ({ disabled: disabled[i].median_ms, all: all[i].median_ms });
      latency = { runs, warmups, a: pair(0), b: pair(1) };
    }

    return {
      passed: Object.values(outputs).every((o) => o.passed),
      a: p.modelA,
      b: p.modelB,
      tolerance: tol,
      outputs,
      latency_ms: latency,
      inputs: prepared.description,
    };
  } finally {
    await releaseSession(sessA);
    await releaseSession(sessB);
  }
}

function prepareInputs(p: VerifyParams, specs: ReturnType<typeof sessionInputs>): PreparedInputs {
  if (p.inputs === undefined) return randomInputs(specs, { seed: p.seed, intRange: p.intRange, shapes: p.shapes });
  const file = SafetensorsFile.open(p.inputs);
  try {
    return inputsFromSafetensors(file, specs);
  } finally {
    file.close();
  }
}

const NULL_STATS = {
  max_abs: null, mean_abs: null, median_abs: null, p99_abs: null, max_rel: null, mean_rel: null, median_rel: null, p99_rel: null, cosine: null,
} as const;

/** Matches outputs by name; a missing or extra output, or a shape mismatch, fails with its reason. */
export function compareOutputs(
  a: readonly (readonly [string, OutputValues])[],
  b: readonly (readonly [string, OutputValues])[],
  tol: Tolerance,
): Record<string, OutputReport> {
  const mapB = new Map(b);
  const out: Record<string, OutputReport> = {};
  for (const [name, va] of a) {
    const vb = mapB.get(name);
    if (!vb) {
      out[name] = { ...NULL_STATS, passed: false, reason: 'missing in B', dtype: va.dtype, shape: va.dims, elements: va.values.length, mismatched: va.values.length, nonfinite_mismatched: 0 };
      continue;
    }
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
  for (const [name, vb] of b) {
    if (namesA.has(name)) continue;
    out[name] = { ...NULL_STATS, passed: false, reason: 'extra output in B (not in A)', dtype: vb.dtype, shape: vb.dims, elements: vb.values.length, mismatched: vb.values.length, nonfinite_mismatched: 0 };
  }
  return out;
}

function sameDims(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}
