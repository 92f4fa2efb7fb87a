/**
 * `modelfuse verify A B`: do two models compute the same function? Both run
 * in the ONNX Runtime worker on the same inputs (seeded random, or from a
 * safetensors file) with ORT's graph optimizations disabled; every output is
 * compared by name. Exit 0 when all outputs agree within tolerance, 1 when
 * they do not, 2 on bad input.
 */
import { ModelFuseError } from '../engine/errors';
import { parseIntRange, parseShapeOptions } from '../engine/stats/inputs';
import type { OutputReport, VerifyReport } from '../protocol/workerProtocol';
import { verifyInWorker, type VerifyOptions } from '../worker/api';
import { COMMON_OPTIONS, optValue, parseArgs, requirePositionals, type OptionSpec, type ParsedArgs } from './args';
import type { CliCommand, CliIO } from './command';
import { withCliWorker } from './workerSession';

const USAGE = 'verify A B [--inputs F] [--shape name=1x3x224x224 …] [--int-range lo,hi] [--atol x] [--rtol y] [--runs N] [--seed S] [--json]';

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

const SPEC = { ...COMMON_OPTIONS, ...VERIFY_COMPARISON_OPTIONS };

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
    const report = await withCliWorker(io, { debug: a.flags.has('debug') }, (client, request) => verifyInWorker(client, modelA, modelB, options, request));
    io.out(a.flags.has('json') ? JSON.stringify(report, null, 2) : formatVerifyReport(report));
    return report.passed ? 0 : 1;
  },
};

// ---------------------------------------------------------------- human-readable report

/** A number for a table: exact 0 stays 0; tiny and huge values in exponent form. */
export function formatNumber(v: number | null): string {
  if (v === null) return 'n/a';
  if (v === 0) return '0';
  const m = Math.abs(v);
  return m < 1e-3 || m >= 1e5 ? v.toExponential(2) : v.toPrecision(4);
}

function formatOutput(name: string, o: OutputReport): string[] {
  const shape = `${o.dtype}[${o.shape.join(', ')}]`;
  const lines = [`output ${name} ${shape}: ${o.passed ? 'PASS' : 'FAIL'}${o.reason ? ` — ${o.reason}` : ''}`];
  if (o.dtype_b) lines.push(`  note: B gives ${o.dtype_b}`);
  if (o.max_abs !== null) {
    lines.push(`  abs diff  max ${formatNumber(o.max_abs)}  mean ${formatNumber(o.mean_abs)}  median ${formatNumber(o.median_abs)}  p99 ${formatNumber(o.p99_abs)}`);
    lines.push(`  rel diff  max ${formatNumber(o.max_rel)}  mean ${formatNumber(o.mean_rel)}  median ${formatNumber(o.median_rel)}  p99 ${formatNumber(o.p99_rel)}`);
    lines.push(`  cosine similarity ${o.cosine === null ? 'n/a' : o.cosine.toFixed(8)}`);
  }
  return lines;
}

function describeInputs(r: VerifyReport): string {
  const tensors = Object.entries(r.inputs.tensors).map(([n, t]) => `${n} ${t.dtype}[${t.shape.join(', ')}] ${t.values}`).join('; ');
  return r.inputs.source === 'file' ? `inputs from ${r.inputs.file}: ${tensors}` : `inputs: random, seed ${r.inputs.seed}: ${tensors}`;
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`verify  A = ${r.a}`, `        B = ${r.b}`, describeInputs(r), 'ONNX Runtime graph optimizations disabled for the comparison', ''];
  for (const [name, o] of Object.entries(r.outputs)) lines.push(...formatOutput(name, o));
  if (r.latency_ms) {
    const l = r.latency_ms;
    const row = (label: string, p: { disabled: number; all: number }) => `  ${label}  ${formatNumber(p.disabled).padStart(12)}  ${formatNumber(p.all).padStart(10)}`;
    lines.push('', `latency (ms, median of ${l.runs} runs after ${l.warmups} warm-ups)`, `     ORT disabled     ORT all`, row('A', l.a), row('B', l.b));
  }
  const tol = `atol ${r.tolerance.atol} + rtol ${r.tolerance.rtol}·|b|`;
  const failed = Object.entries(r.outputs).filter(([, o]) => !o.passed).map(([n]) => n);
  lines.push('', r.passed ? `PASSED: every output agrees within ${tol}` : `FAILED: ${failed.join(', ')} ${failed.length === 1 ? 'differs' : 'differ'} beyond ${tol}`);
  return lines.join('\n');
}
