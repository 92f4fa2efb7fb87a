/**
 * `verify --per-node`: the "Locate drift" ranking in the terminal — which
 * folded node or module boundary introduced the most relative error between
 * A and B (engine/graph/driftRank.ts explains the ranking).
 */
import * as path from 'node:path';
import type { DriftReport } from '../protocol/graphMethods';
import type { WorkerClient, RequestOptions } from '../workerClient/client';
import type { VerifyOptions } from '../workerClient/api';
import { formatNumber } from '../engine/stats/verifyText';

/** Rows printed (all of them with --json). */
const SHOWN = 20;

export function locateDriftInWorker(
  client: WorkerClient,
  modelA: string,
  modelB: string,
  options: VerifyOptions,
  request: RequestOptions = {},
): Promise<DriftReport> {
  const { inputs, shapes, intRange, seed } = options;
  return client.request('graph/drift', {
    modelA: path.resolve(modelA), modelB: path.resolve(modelB),
    ...(inputs !== undefined ? { inputs: path.resolve(inputs) } : {}), shapes, intRange, seed,
  }, request);
}

export function formatDriftReport(r: DriftReport): string {
  if (r.entries.length === 0) return `per node: no intermediate value is computed under the same name by both models (nothing to compare)`;
  const lines = [
    `per node: ${r.entries.length} intermediate values compared (${r.inputs}; ${r.batches} run${r.batches === 1 ? '' : 's'} of each model), ranked by the relative error each introduces`,
    `  #  introduced  rel. error  max |Δ|     kind    node (module) → value`,
  ];
  r.entries.slice(0, SHOWN).forEach((e, i) => {
    const where = `${e.node}${e.module ? ` (${e.module})` : ''} → ${e.value}`;
    lines.push(`${String(i + 1).padStart(3)}  ${formatNumber(e.introduced).padStart(10)}  ${formatNumber(e.relError).padStart(10)}  ${formatNumber(e.maxAbs).padStart(9)}  ${e.kind.padEnd(6)}  ${where}${e.origin ? '  ← drift starts here' : ''}${e.problem ? ` — ${e.problem}` : ''}`);
  });
  if (r.entries.length > SHOWN) lines.push(`  … ${r.entries.length - SHOWN} more (--json lists all)`);
  return lines.join('\n');
}
