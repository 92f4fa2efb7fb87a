/**
 * `modelfuse optimize MODEL -o OUT --ort-level basic|extended`: ONNX
 * Runtime's own offline graph optimization, written atomically — the baseline
 * to compare ModelFuse's exact folds against. `extended` fuses into
 * com.microsoft operators, which only ONNX Runtime can run; the output says so.
 */
import { ModelFuseError } from '../engine/errors';
import type { OptimizeResult } from '../protocol/workerProtocol';
import { optimizeInWorker } from '../workerClient/api';
import { COMMON_OPTIONS, optValue, parseArgs, requirePositionals } from './args';
import type { CliCommand, CliIO } from './command';
import { withCliWorker } from './workerSession';

const USAGE = 'optimize MODEL -o OUT --ort-level basic|extended [--force] [--json]';

const SPEC = { ...COMMON_OPTIONS, out: { value: true, short: 'o' }, 'ort-level': { value: true }, force: {} };

export function describeOptimizeResult(r: OptimizeResult): string {
  const lines = [`wrote ${r.output}${r.externalData ? ` (+ weights in ${r.externalData})` : ''}: ONNX Runtime offline optimization at level ${r.level}, ${r.nodesBefore} nodes → ${r.nodesAfter}`];
  const custom = Object.entries(r.nonStandardOps);
  if (custom.length > 0) {
    lines.push(`note: the output uses operators outside standard ONNX (${custom.map(([op, n]) => `${op} ×${n}`).join(', ')}): it runs only on ONNX Runtime, not in other runtimes or converters`);
  } else if (r.level === 'extended') {
    lines.push('note: level extended fuses into com.microsoft operators that run only on ONNX Runtime; this output happens to contain none');
  } else {
    lines.push('the output is standard ONNX');
  }
  return lines.join('\n');
}

export const optimizeCommand: CliCommand = {
  name: 'optimize',
  usage: USAGE,
  summary: "ONNX Runtime's own offline optimization (basic: standard ONNX; extended: com.microsoft operators, runs only on ONNX Runtime)",
  async run(argv: string[], io: CliIO): Promise<number> {
    const a = parseArgs(argv, SPEC);
    const [model] = requirePositionals(a, ['MODEL'], USAGE);
    const output = optValue(a, 'out');
    if (!output) throw new ModelFuseError(`missing -o OUT; usage: ${USAGE}`);
    const level = optValue(a, 'ort-level');
    if (level !== 'basic' && level !== 'extended') {
      throw new ModelFuseError(level === undefined ? `missing --ort-level basic|extended; usage: ${USAGE}` : `--ort-level '${level}': expected basic or extended`);
    }
    const result = await withCliWorker(io, { debug: a.flags.has('debug') }, (client, request) =>
      optimizeInWorker(client, { model, output, level, force: a.flags.has('force') }, request),
    );
    io.out(a.flags.has('json') ? JSON.stringify(result, null, 2) : describeOptimizeResult(result));
    return 0;
  },
};
