/**
 * Latency as the median of N timed runs after W untimed warm-ups. Several
 * models are timed INTERLEAVED (A, B, A, B, …) rather than one after the
 * other, so that a slow period of a shared machine hits both alike instead of
 * biasing the comparison.
 */
import type { Tensor } from 'onnxruntime-node';
import { quantileSorted } from '../../engine/stats/outputDiff';
import type { HandlerContext } from '../registry';
import { runSession, timedRun } from './run';
import { createSession, releaseSession, type Session } from './runtime';
import { feedsOf, sessionInputs } from './tensors';
import { ModelFuseError } from '../../engine/errors';
import { randomInputs } from '../../engine/stats/inputs';
import type { LatencyParams, LatencyResult } from '../../protocol/workerProtocol';

export interface TimingTarget {
  /** Shown in progress messages: "running A (3/20)". */
  label: string;
  session: Session;
  modelPath: string;
  feeds: Record<string, Tensor>;
}

export interface Timing {
  /** Timed runs made (fewer than asked when a time budget ended them). */
  runs: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
}

export type RunControl = Pick<HandlerContext, 'progress' | 'throwIfCancelled'>;

export interface TimeBudget {
  /** Stop timing once this many ms have passed (after at least `minRuns` rounds). */
  budgetMs: number;
  minRuns: number;
}

export async function timeInterleaved(targets: readonly TimingTarget[], runs: number, warmups: number, control: RunControl, what = '', budget?: TimeBudget): Promise<Timing[]> {
  if (!Number.isSafeInteger(runs) || runs < 1) throw new RangeError(`runs must be a positive integer, not ${runs}`);
  const suffix = what ? ` ${what}` : '';
  for (let w = 0; w < warmups; w++) {
    for (const t of targets) {
      control.throwIfCancelled();
      control.progress(`warming up ${t.label}${suffix} (${w + 1}/${warmups})`);
      await runSession(t.session, t.feeds, t.modelPath);
    }
  }
  const samples = targets.map(() => new Float64Array(runs));
  const start = performance.now();
  let done = 0;
  for (let i = 0; i < runs; i++) {
    if (budget && i >= budget.minRuns && performance.now() - start > budget.budgetMs) break;
    done++;
    for (let j = 0; j < targets.length; j++) {
      control.throwIfCancelled();
      control.progress(`running ${targets[j].label}${suffix} (${i + 1}/${runs})`, i, runs);
      samples[j][i] = await timedRun(targets[j].session, targets[j].feeds, targets[j].modelPath);
    }
  }
  return samples.map((all) => {
    const s = all.subarray(0, done).sort();
    return { runs: done, median_ms: quantileSorted(s, 0.5), min_ms: s[0], max_ms: s[s.length - 1] };
  });
}

/** The `latency/measure` request: one model at one ORT level, on seeded random inputs. */
export async function measureLatency(p: LatencyParams, control: RunControl): Promise<LatencyResult> {
  const level = p.level ?? 'all';
  const runs = p.runs ?? 20;
  const warmups = p.warmups ?? 2;
  if (!Number.isSafeInteger(runs) || runs < 1) throw new ModelFuseError(`runs must be a positive integer, not ${p.runs}`);
  if (!Number.isSafeInteger(warmups) || warmups < 0) throw new ModelFuseError(`warmups must be a non-negative integer, not ${p.warmups}`);
  control.progress(`loading ${p.model}`);
  const session = await createSession(p.model, level);
  try {
    const inputs = randomInputs(sessionInputs(session, p.model), { seed: p.seed, intRange: p.intRange, shapes: p.shapes });
    const [t] = await timeInterleaved([{ label: 'model', session, modelPath: p.model, feeds: feedsOf(inputs.tensors) }], runs, warmups, control);
    return { model: p.model, level, ...t };
  } finally {
    await releaseSession(session);
  }
}
