/**
 * `modelfuse fuse MODEL -o OUT [--patterns p1,p2] [--only id1,id2] [--verify] [--json] [--force]`
 *
 * Scans MODEL, folds every exact fold that is not blocked (or the ones
 * selected), and writes the result to OUT — never over MODEL. `--verify` then
 * runs MODEL and OUT in the ONNX Runtime worker on the same inputs (the
 * `verify` options --inputs/--shape/--atol/… apply) and exits 1 if they differ.
 * With --verify the output is moved to its name only after it passed: on
 * exit 1 nothing is written unless --keep-failed (then `OUT.failed.onnx`), on
 * exit 2 (verification could not run, --timeout, --max-memory) nothing.
 *
 * `--json` prints exactly one object:
 *   { "output", "applied": [ { "id", "pattern", "nodes", "modules" } ],
 *     "skipped": [ { "id", "reason" } ], "verification": null | <verify --json object> }
 */
import * as path from 'node:path';
import { ModelFuseError } from '../engine/errors';
import { fuseModelFile, type FuseFileResult } from '../engine/fusion/fuse';
import type { ChangedTensor } from '../engine/fusion/folds/foldContext';
import type { VerifyReport } from '../protocol/workerProtocol';
import { verifyInWorker } from '../workerClient/api';
import { COMMON_OPTIONS, optValue, parseArgs, requirePositionals, type ParsedArgs } from './args';
import type { CliCommand, CliIO } from './command';
import { formatVerifyReport, parseVerifyOptions, VERIFY_COMPARISON_OPTIONS } from './verifyCommand';
import { parseWorkerLimits, WORKER_LIMIT_OPTIONS, withCliWorker } from './workerSession';

const USAGE =
  'fuse MODEL -o OUT [--patterns p1,p2] [--only id1,id2] [--verify [--keep-failed] [--timeout S] [--max-memory MB] [--inputs F] [--shape name=1x3x224x224] [--atol x] [--rtol y]] [--json] [--force]';

/** Options of `verify` that describe the comparison; accepted only together with --verify. */
const VERIFY_OPTIONS = [...Object.keys(VERIFY_COMPARISON_OPTIONS), ...Object.keys(WORKER_LIMIT_OPTIONS)];

const SPEC = {
  ...COMMON_OPTIONS,
  output: { value: true, short: 'o' },
  patterns: { value: true, repeat: true },
  only: { value: true, repeat: true },
  verify: {},
  'keep-failed': {},
  force: {},
  ...VERIFY_COMPARISON_OPTIONS,
  ...WORKER_LIMIT_OPTIONS,
};

export const fuseCommand: CliCommand = {
  name: 'fuse',
  usage: USAGE,
  summary: 'fold every exact fusible sequence (conv+bn, linear+bn, conv+add/mul, matmul+add, …) and write a new model; --verify checks it in ONNX Runtime',
  async run(argv: string[], io: CliIO): Promise<number> {
    const args = parseArgs(argv, SPEC);
    const [input] = requirePositionals(args, ['MODEL'], USAGE);
    const output = optValue(args, 'output');
    if (!output) throw new ModelFuseError(`${input}: no output given; fuse never writes over its input, so name a new file with -o OUT (usage: ${USAGE})`);
    const verify = args.flags.has('verify');
    const stray = VERIFY_OPTIONS.filter((o) => args.values.has(o));
    if (!verify && stray.length) throw new ModelFuseError(`--${stray[0]} describes the verification; add --verify to run it`);
    if (!verify && args.flags.has('keep-failed')) throw new ModelFuseError('--keep-failed keeps a model that failed verification; add --verify');
    const verifyOptions = verify ? parseVerifyOptions(args) : null; // bad verify options fail before anything is written
    const limits = verify ? parseWorkerLimits(args) : null;
    const fuseOptions = {
      patterns: listOption(args, 'patterns'),
      only: listOption(args, 'only'),
      force: args.flags.has('force'),
      keepFailedAs: args.flags.has('keep-failed') ? failedName(output) : undefined,
    };

    // Integration with the ONNX Runtime worker (extension/workerClient/api.ts): the same comparison as `verify MODEL OUT`,
    // on the finished temporary, before it is moved into place.
    let verification: VerifyReport | null = null;
    const result = verifyOptions
      ? await withCliWorker(io, { debug: args.flags.has('debug'), limits: limits!, what: 'verification' }, (client, request) =>
          fuseModelFile(input, output, {
            ...fuseOptions,
            beforeCommit: async (tempModel) => {
              verification = { ...(await verifyInWorker(client, input, tempModel, verifyOptions, request)), b: output };
              return verification.passed;
            },
          }),
        )
      : await fuseModelFile(input, output, fuseOptions);

    io.out(args.flags.has('json') ? JSON.stringify(fuseJson(result, verification), null, 2) : formatFuseReport(result, verification));
    return result.committed ? 0 : 1;
  },
};

/** Where --keep-failed writes a model that failed verification: `m.onnx` → `m.failed.onnx`. */
export function failedName(output: string): string {
  const ext = path.extname(output);
  return `${output.slice(0, output.length - ext.length)}.failed${ext || '.onnx'}`;
}

/** `--patterns a,b --patterns c` → ['a', 'b', 'c']. */
function listOption(args: ParsedArgs, name: string): string[] | undefined {
  const raw = args.values.get(name);
  if (!raw) return undefined;
  const items = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v);
  if (items.length === 0) throw new ModelFuseError(`--${name} needs at least one value`);
  return items;
}

/** The `fuse --json` object: exactly the contract's keys, in its order. */
export function fuseJson(r: FuseFileResult, verification: VerifyReport | null): object {
  return {
    output: r.committed ? r.output : r.keptFailed,
    applied: r.applied.map((a) => ({ id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules })),
    skipped: r.skipped.map((s) => ({ id: s.id, reason: s.reason })),
    verification,
  };
}

export function formatFuseReport(r: FuseFileResult, verification: VerifyReport | null): string {
  const file = r.committed ? r.output : r.keptFailed;
  const written = file ? `${file}${r.externalData ? ` (+ ${r.externalData})` : ''}` : 'nothing written';
  const lines = [`fuse ${r.input} → ${written}`, ''];
  if (r.applied.length === 0) lines.push('Nothing was fused; the output is an unchanged copy of the model.');
  else {
    lines.push(`applied (${r.applied.length}):`);
    for (const a of r.applied) {
      const modules = a.modules.some((m) => m) ? `  [${a.modules.map((m) => m ?? '?').join(' + ')}]` : '';
      lines.push(`  ${a.id}${modules}`);
      for (const t of a.changedTensors) {
        lines.push(`      ${t.role} ${t.after.name} ${t.after.dtype}[${t.after.dims.join(', ')}] ${describeStorage(t)}`);
      }
      if (a.addedNodes.length) lines.push(`      new node ${a.addedNodes.join(', ')}`);
      lines.push(`      removed ${a.removedNodes.join(', ')}`);
    }
  }
  if (r.skipped.length) {
    lines.push('', `skipped (${r.skipped.length}):`);
    for (const s of r.skipped) lines.push(`  ${s.id}: ${s.reason}`);
  }
  lines.push('', `nodes ${r.nodesBefore} → ${r.nodesAfter}, initializers ${r.initializersBefore} → ${r.initializersAfter}`);
  if (verification) lines.push('', formatVerifyReport(verification));
  if (!r.committed) {
    lines.push('', r.keptFailed ? `Verification failed: ${r.output} was not written; the failed model is kept as ${r.keptFailed}.` : `Verification failed: ${r.output} was not written (--keep-failed keeps the failed model).`);
  }
  return lines.join('\n');
}

function describeStorage(t: ChangedTensor): string {
  switch (t.storage) {
    case 'overwritten':
    case 'replaced':
      return 'updated';
    case 'copied':
      return `new copy (the original '${t.before?.name}' is shared and stays unchanged)`;
    case 'added':
      return 'new';
  }
}
