/**
 * `modelfuse lora plan BASE --adapter A[=w] … [--json]` shows which base
 * tensor every adapter module changes, with scale and evidence.
 * `modelfuse lora BASE --adapter A[=w] … -o OUT [--scale s] [--map F]
 * [--rank r --alpha a] [--allow-unmatched] [--shared error|untie|all]
 * [--matmul js|ort|auto] [--verify] [--json] [--force]` merges them
 * (`--matmul auto`, the default, runs the merge inside the ONNX Runtime
 * worker when the products are big — each tensor's W + s·B·A is one ORT graph
 * there, see workerProcess/ort/loraMergeGraph.ts — and in JS here otherwise).
 *
 * `--subtract` unmerges (diffusers' unfuse_lora): BASE is a model the
 * adapters were merged into; every scale is negated, and the report gives,
 * per tensor, how far two roundings may leave it from the original base;
 * `--original FILE` measures the real distance from that base.
 *
 * Exit codes: 0 merged (or a usable plan), 2 bad input / unusable plan.
 * `--verify` (ONNX bases) runs base and merged model in the ONNX Runtime
 * worker and reports how far the outputs moved; that the outputs move is the
 * point of a merge, so it never fails the command.
 */
import * as path from 'node:path';
import { ModelFuseError } from '../engine/errors';
import { parseAdapterSpec } from '../engine/lora/adapterFormats';
import { mergeLora, productWork, type MergeReport } from '../engine/lora/merge';
import { JsMatmulBackend, type MatmulBackend } from '../engine/lora/matmulBackend';
import { zeroScaleNote } from '../engine/lora/zeroScale';
import { planSummary, planUsable, wordPlanSummary } from '../engine/lora/planSummary';
import { assertPlanUsable, buildPlan, planValue, type LoraPlan, type PlanValue, type PlanOptions, type SharedPolicy } from '../engine/lora/plan';
import type { VerifyReport } from '../protocol/workerProtocol';
import { verifyInWorker } from '../workerClient/api';
import type { LoraMergeParams } from '../protocol/extensionMethods';
import { cliConfigSource, cliText } from './remedyText';
import { COMMON_OPTIONS, optValue, parseArgs, type ParsedArgs } from './args';
import type { CliCommand, CliIO } from './command';
import { parseVerifyOptions, VERIFY_COMPARISON_OPTIONS } from './verifyCommand';
import { formatNumber } from '../engine/stats/verifyText';
import { announceOutput } from './signals';
import { parseWorkerLimits, WORKER_LIMIT_OPTIONS, withCliWorker } from './workerSession';
import { distanceFromOriginal, type Distance } from '../engine/lora/unmerge';
import { inputsLine } from '../engine/stats/verifyText';

/** What --subtract can promise (the rounding bound) and, with --original, what it achieved. */
function unmergeLines(r: MergeReport, distances: Distance[] | null): string[] {
  const bound = Math.max(0, ...r.merged.map((m) => m.rounding_bound ?? 0));
  const lines = [`rounding: merge then unmerge rounds twice, so each value may differ from the original base by up to ${formatNumber(bound)} (half an ulp of the merged plus half an ulp of the unmerged value, largest over the tensors)`];
  if (!distances) return [...lines, 'pass --original BASE to measure the distance from the original base'];
  lines.push('distance from the original base:');
  for (const d of distances) {
    const b = Math.max(0, ...r.merged.filter((m) => m.target === d.tensor).map((m) => m.rounding_bound ?? 0));
    lines.push(`  ${d.tensor}: max |Δ| ${formatNumber(d.max_abs)} (${formatNumber(d.max_rel)} of its largest value)${d.max_abs <= b ? ', within the rounding bound' : `, MORE than the rounding bound ${formatNumber(b)}: not the base this adapter was merged into, or merged with other settings`}`);
  }
  return lines;
}

const USAGE_PLAN = 'lora plan BASE --adapter A[=w] … [--map F] [--rank r --alpha a] [--scale s] [--shared error|untie|all] [--subtract] [--json]';
const USAGE_MERGE =
  'lora BASE --adapter A[=w] … -o OUT [--scale s] [--map F] [--rank r --alpha a] [--allow-unmatched] [--shared error|untie|all] [--subtract [--original FILE]] [--matmul js|ort|auto] [--verify [--timeout S]] [--max-memory MB] [--json] [--force]';

/** 2³⁰ multiply-adds (four 4096×4096 rank-16 products): below this the JS kernel finishes before a worker has started. */
const AUTO_ORT_MACS = 2 ** 30;

const PLAN_SPEC = {
  ...COMMON_OPTIONS,
  adapter: { value: true, repeat: true },
  map: { value: true },
  rank: { value: true },
  alpha: { value: true },
  scale: { value: true },
  shared: { value: true },
  subtract: {},
  'allow-unmatched': {},
};

const MERGE_SPEC = {
  ...PLAN_SPEC,
  output: { value: true, short: 'o' },
  original: { value: true },
  force: {},
  verify: {},
  matmul: { value: true },
  // passed on to the verification (see `verify --help`)
  ...VERIFY_COMPARISON_OPTIONS,
  ...WORKER_LIMIT_OPTIONS,
};

function numberOpt(a: ParsedArgs, name: string, check: (n: number) => boolean, what: string): number | undefined {
  const v = optValue(a, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new ModelFuseError(`--${name} '${v}': expected ${what}`);
  return n;
}

function planOptions(a: ParsedArgs): PlanOptions {
  const shared = optValue(a, 'shared') ?? 'error';
  if (!['error', 'untie', 'all'].includes(shared)) throw new ModelFuseError(`--shared '${shared}': expected error, untie or all`);
  return {
    scale: numberOpt(a, 'scale', () => true, 'a number'),
    rank: numberOpt(a, 'rank', (n) => Number.isSafeInteger(n) && n > 0, 'a positive integer'),
    alpha: numberOpt(a, 'alpha', (n) => n !== 0, 'a non-zero number'),
    mapPath: optValue(a, 'map'),
    shared: shared as SharedPolicy,
    subtract: a.flags.has('subtract'),
  };
}

function adapterSpecs(a: ParsedArgs) {
  const list = a.values.get('adapter') ?? [];
  if (list.length === 0) throw new ModelFuseError('no adapter given (use --adapter PATH[=weight], repeatable)');
  return list.map(parseAdapterSpec);
}

export const loraCommand: CliCommand = {
  name: 'lora',
  usage: `${USAGE_MERGE}\n  modelfuse ${USAGE_PLAN}`,
  summary: 'merge LoRA adapters (PEFT folder, PEFT or kohya safetensors) into an ONNX or safetensors base; `lora plan` shows the mapping first',
  async run(argv: string[], io: CliIO): Promise<number> {
    if (argv[0] === 'plan') return runPlan(argv.slice(1), io);
    return runMerge(argv, io);
  },
};

async function runPlan(argv: string[], io: CliIO): Promise<number> {
  const a = parseArgs(argv, PLAN_SPEC);
  if (a.positionals.length !== 1) throw new ModelFuseError(`expected BASE; usage: ${USAGE_PLAN}`);
  const plan = buildPlan(a.positionals[0], adapterSpecs(a), planOptions(a));
  try {
    const usable = planUsable(plan, a.flags.has('allow-unmatched'));
    io.out(a.flags.has('json') ? JSON.stringify(wordPlanSummary(planSummary(plan, { allowUnmatched: a.flags.has('allow-unmatched') }), cliText, cliConfigSource), null, 2) : formatPlan(plan, usable));
    return usable ? 0 : 2;
  } finally {
    plan.close();
  }
}

async function runMerge(argv: string[], io: CliIO): Promise<number> {
  const a = parseArgs(argv, MERGE_SPEC);
  if (a.positionals.length !== 1) throw new ModelFuseError(`expected BASE; usage: ${USAGE_MERGE}`);
  const output = optValue(a, 'output');
  if (!output) throw new ModelFuseError(`-o OUT is required; usage: ${USAGE_MERGE}`);
  const matmulOpt = optValue(a, 'matmul') ?? 'auto';
  if (!['js', 'ort', 'auto'].includes(matmulOpt)) throw new ModelFuseError(`--matmul '${matmulOpt}': expected js, ort or auto`);
  const verify = a.flags.has('verify');
  const original = optValue(a, 'original');
  if (original !== undefined && !a.flags.has('subtract')) throw new ModelFuseError('--original compares an unmerged model with its original base; it needs --subtract');
  const verifyOptions = parseVerifyOptions(a);
  const limits = parseWorkerLimits(a);
  const session = { debug: a.flags.has('debug'), limits, what: 'verification' };
  announceOutput(output); // a stop removes what a killed worker was writing there
  const plan = buildPlan(a.positionals[0], adapterSpecs(a), planOptions(a));
  if (verify && plan.baseKind !== 'onnx') {
    plan.close();
    throw new ModelFuseError(`--verify runs the base and merged models in ONNX Runtime; ${a.positionals[0]} is not an ONNX model`);
  }
  const done: { report?: MergeReport; verification: VerifyReport | null } = { verification: null };
  try {
    assertPlanUsable(plan, a.flags.has('allow-unmatched'));
    // auto: ONNX Runtime's MatMul in the worker once the products are big enough to repay starting it.
    const matmul = matmulOpt === 'auto' ? (productWork(plan) >= AUTO_ORT_MACS ? 'ort' : 'js') : matmulOpt;
    const run = async (backend: MatmulBackend, verifyFn?: () => Promise<VerifyReport>): Promise<void> => {
      done.report = await mergeLora(plan, output, { force: a.flags.has('force'), backend });
      plan.close(); // the verification opens the files itself
      if (verifyFn) done.verification = await verifyFn();
    };
    if (matmul === 'ort') {
      // The whole merge runs in the worker, next to ONNX Runtime: the weights never cross the IPC channel.
      await withCliWorker(io, session, async (client, request) => {
        // (the worker works on absolute paths; the report names the output as the user wrote it, like the JS path)
        // --timeout limits the verification; the merge itself is bounded by --max-memory only.
        const params = { ...mergeInWorkerParams(a, output), planned: absolutePlan(planValue(plan)) };
        done.report = { ...(await client.request('lora/merge', params, { ...request, timeout: undefined })), output };
        plan.close();
        if (verify) done.verification = await verifyInWorker(client, plan.basePath, output, verifyOptions, request);
      });
    } else if (verify) {
      await withCliWorker(io, session, async (client, request) => {
        await run(new JsMatmulBackend(), () => verifyInWorker(client, plan.basePath, output, verifyOptions, request));
      });
    } else {
      await run(new JsMatmulBackend());
    }
  } finally {
    plan.close();
  }
  const r = done.report!;
  const distances = original === undefined ? null : distanceFromOriginal(r.output, original, [...new Set(r.merged.map((m) => m.target))]);
  const json = {
    output: r.output,
    merged: r.merged,
    unmatched: unmatchedJson(plan),
    ...noteField(plan),
    verification: done.verification,
    ...(plan.subtract ? { distance_from_original: distances } : {}),
  };
  io.out(a.flags.has('json') ? JSON.stringify(json, null, 2) : formatMerge(plan, r, done.verification, distances));
  return 0;
}

/** The plan made here, with the paths the worker takes (absolute); pairings, scales and evidence as they are. */
function absolutePlan(value: PlanValue): PlanValue {
  return {
    ...value,
    basePath: path.resolve(value.basePath),
    specs: value.specs.map((s) => ({ ...s, path: path.resolve(s.path) })),
    files: value.files.map((f) => ({ ...f, path: path.resolve(f.path) })),
  };
}

/** The same merge, as the worker's `lora/merge` request (absolute paths: the worker trusts nothing relative). */
function mergeInWorkerParams(a: ParsedArgs, output: string): LoraMergeParams {
  const options = planOptions(a);
  return {
    base: path.resolve(a.positionals[0]),
    adapters: adapterSpecs(a).map((s) => ({ path: path.resolve(s.path), weight: s.weight })),
    output: path.resolve(output),
    plan: { ...options, mapPath: options.mapPath === undefined ? undefined : path.resolve(options.mapPath) },
    allowUnmatched: a.flags.has('allow-unmatched'),
    force: a.flags.has('force'),
  };
}

// ---------------------------------------------------------------- output

/** `note` in --json only when there is something to say, so the usual shape stays as documented. */
function noteField(plan: LoraPlan): { note?: string } {
  const note = zeroScaleNote(plan.pairs);
  return note ? { note } : {};
}

/** The unmatched modules as --json has always shown them (the reason in the CLI's words). */
function unmatchedJson(plan: LoraPlan) {
  return plan.unmatched.map((u) => ({ ...u, reason: cliText(u.reason) }));
}

function formatPlan(plan: LoraPlan, usable: boolean): string {
  const lines = [`lora plan  base ${plan.basePath} (${plan.baseKind})`];
  plan.adapters.forEach((x, i) => lines.push(`  adapter ${i + 1}: ${x.spec}  ${x.format}, weight ${x.weight}, ${x.modules.length} module(s), config ${cliConfigSource(x.config)}`));
  lines.push('');
  for (const p of plan.pairs) {
    const layout = p.kind === 'replace' ? 'replaced (modules_to_save)' : `${p.deltaKind}${p.transposed ? ', stored transposed' : ''}${p.dora ? ', DoRA' : ''}`;
    lines.push(`${p.module}  →  ${p.target}  ${p.targetDtype}[${p.targetShape.join(', ')}]  (${layout})`);
    if (p.kind === 'lora') {
      lines.push(`    scale ${formatNumber(p.scale)} = weight ${p.weight} × --scale ${p.globalScale} × ${cliText(p.scaleEvidence)}`);
      lines.push(`    format: ${plan.adapters[p.adapterIndex].format} ${p.algorithm}`);
      if (p.doraConvention) lines.push(`    DoRA: ${p.doraConvention}`);
      if (p.bias && plan.adapters[p.adapterIndex].modules.find((m) => m.module === p.module)?.bias) lines.push(`    lora_B.bias → ${p.bias}`);
    }
    for (const e of p.evidence) lines.push(`    evidence: ${cliText(e)}`);
    if (plan.adapters.length > 1) lines.push(`    from ${p.adapter}`);
  }
  if (plan.unmatched.length) {
    lines.push('', `unmatched (${plan.unmatched.length}):`);
    for (const u of plan.unmatched) {
      lines.push(`  ${u.adapter} '${u.module}': ${cliText(u.reason)}`);
      for (const c of u.candidates ?? []) lines.push(`      candidate: ${c}`);
    }
  }
  if (plan.errors.length) {
    lines.push('', 'errors:');
    for (const e of plan.errors) lines.push(`  ${cliText(e)}`);
  }
  const note = zeroScaleNote(plan.pairs);
  if (note) lines.push('', `note: ${note}`);
  lines.push('', usable ? `${plan.pairs.length} tensor change(s) planned` : 'NOT USABLE as is: fix the problems above (--map F, --allow-unmatched, --shared …)');
  return lines.join('\n');
}

function formatMerge(plan: LoraPlan, r: MergeReport, v: VerifyReport | null, distances: Distance[] | null): string {
  const lines = [`${plan.subtract ? 'unmerged (--subtract) into' : 'merged into'} ${r.output}${r.files.length > 1 ? ` (+ ${r.files.filter((f) => f !== r.output).join(', ')})` : ''}`];
  const w = Math.max(...r.merged.map((m) => m.target.length), 6);
  lines.push(`  ${'target'.padEnd(w)}  ${'scale'.padStart(9)}  ${'‖ΔW‖'.padStart(10)}  ${'‖ΔW‖/‖W‖'.padStart(10)}  module`);
  for (const m of r.merged) {
    lines.push(`  ${m.target.padEnd(w)}  ${formatNumber(m.scale).padStart(9)}  ${formatNumber(m.delta_fro).padStart(10)}  ${formatNumber(m.rel_change).padStart(10)}  ${m.key}${plan.adapters.length > 1 ? `  (${m.adapter})` : ''}`);
  }
  const note = zeroScaleNote(plan.pairs);
  if (note) lines.push('', `note: ${note}`);
  if (plan.subtract) lines.push('', ...unmergeLines(r, distances));
  if (plan.unmatched.length) lines.push('', `left unmerged (--allow-unmatched): ${plan.unmatched.map((u) => `${u.module} (${cliText(u.reason)})`).join('; ')}`);
  if (v) {
    lines.push('', `verification in ONNX Runtime (base vs merged, same inputs: ${inputsLine(v.inputs)}):`);
    for (const [name, o] of Object.entries(v.outputs)) {
      lines.push(`  output ${name}: max |Δ| ${formatNumber(o.max_abs)}, max rel ${formatNumber(o.max_rel)}, cosine ${o.cosine === null ? 'n/a' : o.cosine.toFixed(6)}`);
    }
  }
  return lines.join('\n');
}
