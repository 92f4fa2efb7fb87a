/**
 * The words every front end uses for a verification's inputs and verdict
 * (CLI text, notification, Output channel, diff panel, Markdown export), so
 * that each names the same shapes, dtypes, seed or file, and none calls a
 * weak check "verified". Pure: the webview bundles it too.
 */
import type { InputsDescription, OutputReport, VerifyReport } from './verifyReport';

export type Verdict = 'verified' | 'weak' | 'failed';

export function verdictOf(r: Pick<VerifyReport, 'passed' | 'weak'>): Verdict {
  if (!r.passed) return 'failed';
  return (r.weak ?? []).length > 0 ? 'weak' : 'verified';
}

/** `x float32[1, 3, 224, 224]` per input, joined. */
export function inputShapesText(inputs: InputsDescription): string {
  return Object.entries(inputs.tensors).map(([name, t]) => `${name} ${t.dtype}[${t.shape.join(', ')}]`).join(', ') || 'no inputs';
}

/** Where the values came from: `random normal(0,1), seed 0` or `from io.npy`. */
export function inputSourceText(inputs: InputsDescription, basename: (p: string) => string = (p) => p): string {
  if (inputs.source === 'file') return `from ${basename(inputs.file ?? '?')}`;
  const kinds = [...new Set(Object.values(inputs.tensors).map((t) => t.values))].join(' / ');
  return `random ${kinds || 'values'}, seed ${inputs.seed ?? 0}`;
}

/** One line: `x float32[1, 3, 224, 224] (random normal(0,1), seed 0)`. */
export function inputsLine(inputs: InputsDescription, basename?: (p: string) => string): string {
  return `${inputShapesText(inputs)} (${inputSourceText(inputs, basename)})`;
}

/** How each input's sizes were chosen, one entry per input that had dynamic dims: `x: batch 1; 224×224: …`. */
export function shapeChoiceLines(inputs: InputsDescription): string[] {
  const out: string[] = [];
  for (const [name, t] of Object.entries(inputs.tensors)) {
    if (!t.shape_from || t.shape_from === 'fixed by the model') continue;
    const declared = t.declared ? ` (declared [${t.declared.map((d) => (d === null ? '?' : String(d))).join(', ')}])` : '';
    out.push(`${name}${declared}: ${t.shape_from}`);
  }
  return out;
}

/** "weak check: <reasons>" for a pass that proves little. */
export function weakText(r: Pick<VerifyReport, 'weak'>): string {
  return (r.weak ?? []).join('; ');
}

/** A number for a table: exact 0 stays 0; tiny and huge values in exponent form. */
export function formatNumber(v: number | null): string {
  if (v === null) return 'n/a';
  if (v === 0) return '0';
  const m = Math.abs(v);
  return m < 1e-3 || m >= 1e5 ? v.toExponential(2) : v.toPrecision(4);
}

/** Columns padded to their widest cell; the first `leftColumns` are left-aligned, numbers right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < leftColumns || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
}

function outputRow(name: string, o: OutputReport): string[] {
  return [
    name, `${o.dtype}[${o.shape.join(', ')}]`, formatNumber(o.max_abs), formatNumber(o.mean_abs), formatNumber(o.p99_abs), formatNumber(o.max_rel),
    o.cosine === null ? 'n/a' : o.cosine.toFixed(8), `${o.mismatched}/${o.elements}`,
    o.passed ? 'PASS' : `FAIL${o.reason ? ` — ${o.reason}` : ''}${o.dtype_b ? ` (B gives ${o.dtype_b})` : ''}`,
  ];
}

/** The whole report as text: what the CLI prints and what the Output channel logs. */
export function verifyReportText(r: VerifyReport): string {
  const lines = [`verify  A = ${r.a}`, `        B = ${r.b}`, `inputs: ${inputsLine(r.inputs)}`];
  for (const line of shapeChoiceLines(r.inputs)) lines.push(`  ${line}`);
  lines.push('ONNX Runtime graph optimizations disabled for the comparison', '');
  lines.push(...textTable(['output', 'type', 'max |Δ|', 'mean |Δ|', 'p99 |Δ|', 'max rel', 'cosine', 'mismatched', 'result'], Object.entries(r.outputs).map(([n, o]) => outputRow(n, o)), 2));
  if (r.latency_ms) {
    const l = r.latency_ms;
    lines.push('', `latency (ms, median of ${l.runs} runs after ${l.warmups} warm-ups)`);
    lines.push(...textTable(['model', 'ORT disabled', 'ORT all'], [['A', formatNumber(l.a.disabled), formatNumber(l.a.all)], ['B', formatNumber(l.b.disabled), formatNumber(l.b.all)]]));
  }
  const tol = `atol ${r.tolerance.atol} + rtol ${r.tolerance.rtol}·|b|`;
  const failed = Object.entries(r.outputs).filter(([, o]) => !o.passed).map(([n]) => n);
  switch (verdictOf(r)) {
    case 'failed': lines.push('', `FAILED: ${failed.join(', ')} ${failed.length === 1 ? 'differs' : 'differ'} beyond ${tol}`); break;
    case 'weak': lines.push('', `WEAK CHECK (not verified): every output agrees within ${tol}, but ${weakText(r)}`); break;
    default: lines.push('', `PASSED: every output agrees within ${tol}`);
  }
  return lines.join('\n');
}

/** What a view shows of a verify report besides its numbers, worded here once (the diff panel gets it with the report). */
export interface VerifyWords {
  verdict: Verdict;
  /** Why a pass proves little (`weakText`), or null when it is a real check or a failure. */
  weak: string | null;
  /** `inputsLine`: where the inputs came from and their shapes. */
  inputs: string;
  /** `shapeChoiceLines`: how each dynamic dimension was chosen. */
  shapeChoices: string[];
}

export function verifyWords(r: VerifyReport): VerifyWords {
  const verdict = verdictOf(r);
  return { verdict, weak: verdict === 'weak' ? weakText(r) : null, inputs: inputsLine(r.inputs), shapeChoices: shapeChoiceLines(r.inputs) };
}
