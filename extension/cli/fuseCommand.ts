/**
 * `modelfuse fuse MODEL -o OUT [--patterns p1,p2] [--only id1,id2] [--verify] [--json] [--force]`
 *
 * Scans MODEL, folds every exact fold that is not blocked (or the ones
 * selected), and writes the result to OUT — never over MODEL. `--verify` then
 * runs MODEL and OUT in the ONNX Runtime worker on the same inputs (the
 * `verify` options --inputs/--shape/--atol/… apply) and exits 1 if they differ.
 *
 * `--json` prints exactly one object:
 *   { "output", "applied": [ { "id", "pattern", "nodes", "modules" } ],
 *     "skipped": [ { "id", "reason" } ], "verification": null | <verify --json object> }
 */
import { ModelFuseError } from '../engine/errors';
import { fuseModelFile, type FuseFileResult } from '../engine/fusion/fuse';
import type { ChangedTensor } from '../engine/fusion/folds/foldContext';
import type { VerifyReport } from '../protocol/workerProtocol';
import { verifyInWorker } from '../worker/api';
import { COMMON_OPTIONS, optValue, parseArgs, requirePositionals, type ParsedArgs } from './args';
import type { CliCommand, CliIO } from './command';
import { formatVerifyReport, parseVerifyOptions, VERIFY_COMPARISON_OPTIONS } from './verifyCommand';
import { withCliWorker } from './workerSession';

const USAGE = 'fuse MODEL -o OUT [--patterns p1,p2] [--only id1,id2] [--verify [--inputs F] [--shape name=1x3x224x224] [--atol x] [--rtol y]] [--json] [--force]';

/** Options of `verify` that describe the comparison; accepted only together with --verify. */
const VERIFY_OPTIONS = Object.keys(VERIFY_COMPARISON_OPTIONS);

const SPEC = {
  ...COMMON_OPTIONS,
  output: { value: true, short: 'o' },
  patterns: { value: true, repeat: true },
  only: { value: true, repeat: true },
  verify: {},
  force: {},
  ...VERIFY_COMPARISON_OPTIONS,
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
    const verifyOptions = verify ? parseVerifyOptions(args) : null; // bad verify options fail before anything is written

    const result = await fuseModelFile(input, output, {
      patterns: listOption(args, 'patterns'),
      only: listOption(args, 'only'),
      force: args.flags.has('force'),
    });

    // Integration with the ONNX Runtime worker (extension/worker/api.ts): the same comparison as `verify MODEL OUT`.
    let verification: VerifyReport | null = null;
    if (verifyOptions) {
      verification = await withCliWorker(io, { debug: args.flags.has('debug') }, (client, request) => verifyInWorker(client, input, result.output, verifyOptions, request));
    }

    io.out(args.flags.has('json') ? JSON.stringify(fuseJson(result, verification), null, 2) : formatFuseReport(result, verification));
    return verification && !verification.passed ? 1 : 0;
  },
};

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
    output: r.output,
    applied: r.applied.map((a) => ({ id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules })),
    skipped: r.skipped.map((s) => ({ id: s.id, reason: s.reason })),
    verification,
  };
}

export function formatFuseReport(r: FuseFileResult, verification: VerifyReport | null): string {
  const lines = [`fuse ${r.input} → ${r.output}${r.externalData ? ` (+ ${r.externalData})` : ''}`, ''];
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
