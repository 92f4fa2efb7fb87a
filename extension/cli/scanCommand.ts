/**
 * `modelfuse scan MODEL [--json]`: the fusible sequences of a model.
 * `--json` prints exactly one JSON object (the contract other tools read):
 * { model: { path, opset, producer, nodes, initializers, parameters, bytes, subgraphs: [{ path, nodes, notScanned }] },
 *   candidates: [ { id, pattern, nodes, modules, folds, blocked, warnings: [ { kind: 'shared-module' | 'shared-weight', …, message } ], details? } ] }
 * (`details` per pattern: e.g. `foldedByExporter`, `unnamedBatchNorm` with the reason, LoRA rank and scale).
 */
import { SUBGRAPH_NOT_SCANNED, type ScanResult } from '../engine/fusion/scan';
import type { CliCommand, CliIO } from './command';
import { withModelAnalysis } from './analyzeFromArgs';
import { printable } from './printable';
import { warningText } from '../engine/fusion/warnings';

const USAGE = 'scan MODEL [--weights STATE_DICT.safetensors] [--python MODEL.py] [--json]';

export const scanCommand: CliCommand = {
  name: 'scan',
  usage: USAGE,
  summary: 'list the fusible sequences (conv+bn, linear+relu, …) with their PyTorch modules',
  async run(argv: string[], io: CliIO): Promise<number> {
    await withModelAnalysis(argv, io, USAGE, ({ scan }, _modelPath, args) => io.out(args.flags.has('json') ? JSON.stringify(scanJson(scan), null, 2) : formatScanTable(scan)));
    return 0;
  },
};

/** The `scan --json` object, with exactly the contract's keys in the contract's order. */
export function scanJson(scan: ScanResult): object {
  const m = scan.model;
  return {
    model: {
      path: m.path, opset: m.opset, producer: m.producer, nodes: m.nodes, initializers: m.initializers, parameters: m.parameters, bytes: m.bytes,
      subgraphs: m.subgraphs,
    },
    candidates: scan.candidates.map((c) => ({
      id: c.id, pattern: c.pattern, nodes: c.nodes, modules: c.modules, folds: c.folds, blocked: c.blocked,
      // The warning as data (kind and its subject) and in words.
      warnings: c.warnings.map((w) => ({ ...w, message: warningText(w) })),
      ...(c.details ? { details: c.details } : {}),
    })),
  };
}


export function formatScanTable(scan: ScanResult): string {
  const m = scan.model;
  const lines = [
    `${m.path}: ${m.producer || 'unknown producer'}, opset ${m.opset}, ${m.nodes} nodes, ${m.initializers} initializers, ` +
      `${m.parameters.toLocaleString('en-US')} parameters, ${formatBytes(m.bytes)}`,
    '',
  ];
  if (m.subgraphs.length > 0) {
    const nodes = m.subgraphs.reduce((a, g) => a + g.nodes, 0);
    lines.push(`Not scanned: ${m.subgraphs.length} If/Loop/Scan bod${m.subgraphs.length === 1 ? 'y' : 'ies'} with ${nodes} nodes (${m.subgraphs.slice(0, 3).map((g) => g.path).join(', ')}${m.subgraphs.length > 3 ? ', …' : ''}): ${SUBGRAPH_NOT_SCANNED}.`, '');
  }
  if (scan.candidates.length === 0) {
    lines.push(m.subgraphs.length ? 'No fusible sequences found in the main graph.' : 'No fusible sequences found.');
    return lines.map(printable).join('\n');
  }
  const rows = scan.candidates.map((c, i) => [
    String(i + 1),
    c.pattern,
    c.modules.map((x) => x ?? '?').join(' + '),
    c.blocked ? 'blocked' : c.folds ? 'folds' : c.details?.foldedByExporter ? 'group (exporter folded BN)' : 'group',
    c.nodes.join(', '),
  ]);
  for (const row of table(['#', 'pattern', 'modules', 'action', 'nodes'], rows)) lines.push(row);
  const notes: string[] = [];
  scan.candidates.forEach((c, i) => {
    if (c.blocked) notes.push(`  ${i + 1}. blocked: ${c.blocked}`);
    if (c.details?.unnamedBatchNorm !== undefined) notes.push(`  ${i + 1}. not a PyTorch group: ${c.details.unnamedBatchNorm}`);
    for (const w of c.warnings) notes.push(`  ${i + 1}. warning: ${warningText(w)}`);
  });
  const fold = scan.candidates.filter((c) => !c.blocked && c.folds).length;
  const group = scan.candidates.filter((c) => !c.blocked && !c.folds).length;
  const blocked = scan.candidates.filter((c) => c.blocked).length;
  lines.push('', `${scan.candidates.length} candidates: ${fold} fold, ${group} grouping only, ${blocked} blocked.`);
  if (notes.length) lines.push('', ...notes);
  return lines.map(printable).join('\n');
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i].length), h.length));
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
