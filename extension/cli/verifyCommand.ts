/**
 * `modelfuse verify A B`: do two models compute the same function? Both run
 * in the ONNX Runtime worker on the same inputs (seeded random, or from a
 * safetensors file) with ORT's graph optimizations disabled; every output is
 * compared by name. Exit 0 when all outputs agree within tolerance, 1 when
 * they do not, 2 on bad input.
 */
import { ModelFuseError } from '../engine/errors';
import { parseIntRange, parseShapeOptions } from '../engine/stats/inputs';
import { verifyReportText } from '../engine/stats/verifyText';
import { verifyInWorker, type VerifyOptions } from '../workerClient/api';
import { COMMON_OPTIONS, optValue, parseArgs, requirePositionals, type OptionSpec, type ParsedArgs } from './args';
import type { CliCommand, CliIO } from './command';
import { parseWorkerLimits, WORKER_LIMIT_OPTIONS, withCliWorker } from './workerSession';
import { formatDriftReport, locateDriftInWorker } from './driftReport';

const USAGE = 'verify A B [--inputs F] [--shape name=1x3x224x224 …] [--int-range lo,hi] [--atol x] [--rtol y] [--runs N] [--seed S] [--per-node] [--timeout S] [--max-memory MB] [--json]';

/** The options that describe a comparison; `fuse --verify` and `lora --verify` accept them too. */
export const VERIFY_COMPARISON_OPTIONS: Record<string, OptionSpec> = {
  inputs: { value: true },
  shape: { value: true, repeat: true },
  'int-range': { value: true },
  atol: { value: true },
  rtol: { value: true },
  runs: { value: true },
  seed: { value: true },
};

/** `--per-node`: also locate where the outputs drift (graph/driftRank.ts), printed after the outputs. */
const SPEC = { ...COMMON_OPTIONS, ...VERIFY_COMPARISON_OPTIONS, ...WORKER_LIMIT_OPTIONS, 'per-node': {} };

function nonNegative(a: ParsedArgs, name: string): number | undefined {
  const v = optValue(a, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new ModelFuseError(`--${name} '${v}': expected a non-negative number`);
  return n;
}

function integer(a: ParsedArgs, name: string, min: number): number | undefined {
  const v = optValue(a, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new ModelFuseError(`--${name} '${v}': expected an integer ≥ ${min}`);
  return n;
}

/** The verify options from command-line arguments (shared with commands that verify after writing). */
export function parseVerifyOptions(a: ParsedArgs): VerifyOptions {
  const shapes = a.values.get('shape');
  const intRange = optValue(a, 'int-range');
  const opts: VerifyOptions = {
    inputs: optValue(a, 'inputs'),
    shapes: shapes ? parseShapeOptions(shapes) : undefined,
    intRange: intRange !== undefined ? parseIntRange(intRange) : undefined,
    atol: nonNegative(a, 'atol'),
    rtol: nonNegative(a, 'rtol'),
    runs: integer(a, 'runs', 0),
    seed: integer(a, 'seed', Number.MIN_SAFE_INTEGER),
  };
  if (opts.inputs !== undefined && (opts.shapes || opts.intRange || opts.seed !== undefined)) {
    throw new ModelFuseError('--shape, --int-range and --seed describe random inputs; they cannot be combined with --inputs');
  }
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as VerifyOptions;
}

export const verifyCommand: CliCommand = {
  name: 'verify',
  usage: USAGE,
  summary: 'run two models on the same inputs in ONNX Runtime and compare every output (exit 0 same, 1 different, 2 bad input)',
  async run(argv: string[], io: CliIO): Promise<number> {
    const a = parseArgs(argv, SPEC);
    const [modelA, modelB] = requirePositionals(a, ['A', 'B'], USAGE);
    const options = parseVerifyOptions(a);
    const perNode = a.flags.has('per-node');
    const limits = parseWorkerLimits(a);
    const { report, drift } = await withCliWorker(io, { debug: a.flags.has('debug'), limits, what: 'verification' }, async (client, request) => ({
      report: await verifyInWorker(client, modelA, modelB, options, request),
      drift: perNode ? await locateDriftInWorker(client, modelA, modelB, options, request) : null,
    }));
    if (a.flags.has('json')) io.out(JSON.stringify(drift ? { ...report, per_node: drift } : report, null, 2));
    else io.out(drift ? `${verifyReportText(report)}\n\n${formatDriftReport(drift)}` : verifyReportText(report));
    return report.passed ? 0 : 1;
  },
};

// ---------------------------------------------------------------- human-readable report

/** The text report (shared with the extension's Output channel). */
export const formatVerifyReport = verifyReportText;
