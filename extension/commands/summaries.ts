/**
 * The one-line outcomes users read in notifications, and the fuller log
 * lines. Pure functions of the worker's results.
 */
import * as path from 'node:path';
import { inputsLine, verdictOf, weakText } from '../engine/stats/verifyText';
import type { VerifyReport } from '../protocol/workerProtocol';
import type { FuseFileResult, LoraMergeResult, LoraPlanResult } from '../protocol/extensionMethods';
import type { Refusal } from './fuseSelection';
import { vscodeText } from '../host/remedyText';

export function sci(x: number | null): string {
  if (x === null || Number.isNaN(x)) return 'n/a';
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2);
}

/** Largest |Δ| over all outputs, the inputs it ran on, and the outputs that failed (with their reason) or why a pass is weak. */
export function verificationLine(v: VerifyReport): string {
  const outputs = Object.entries(v.outputs);
  const worst = Math.max(...outputs.map(([, o]) => o.max_abs ?? Number.POSITIVE_INFINITY));
  const tol = `atol ${sci(v.tolerance.atol)}, rtol ${sci(v.tolerance.rtol)}`;
  const latency = v.latency_ms ? ` · latency ${v.latency_ms.a.all.toFixed(2)} → ${v.latency_ms.b.all.toFixed(2)} ms` : '';
  const inputs = ` Inputs: ${inputsLine(v.inputs, path.basename)}.`;
  const match = outputs.length === 1 ? 'the output matches' : `all ${outputs.length} outputs match`;
  switch (verdictOf(v)) {
    case 'verified':
      return `Verified in ONNX Runtime: ${match}, max |Δ| ${sci(worst)} (${tol})${latency}.${inputs}`;
    case 'weak':
      return `Weak check (not verified): ${match} in ONNX Runtime, max |Δ| ${sci(worst)}, but ${weakText(v)}.${inputs} Choose other inputs with "ModelFuse: Verification Inputs…".`;
    default: {
      const failed = outputs.filter(([, o]) => !o.passed).map(([name, o]) => `'${name}' ${o.reason ?? `max |Δ| ${sci(o.max_abs)}`}`);
      return `Verification FAILED (${tol}): ${failed.join('; ')}.${inputs}`;
    }
  }
}

export function refusalsLine(refused: readonly Refusal[]): string {
  return refused.map((r) => `${r.item}: ${r.reason}`).join('; ');
}

export function fuseSummary(r: FuseFileResult, verification: VerifyReport | null, refused: readonly Refusal[]): string {
  const n = r.applied.length;
  const parts = [`Fused ${n} sequence${n === 1 ? '' : 's'} of ${path.basename(r.input)} → ${path.basename(r.output)} (${r.nodesBefore} → ${r.nodesAfter} nodes).`];
  if (verification) parts.push(verificationLine(verification));
  const notFused = [...refused, ...r.skipped.map((s) => ({ item: s.id, reason: s.reason }))];
  if (notFused.length) parts.push(`Not fused: ${refusalsLine(notFused)}.`);
  return parts.join(' ');
}

/** The plan as QuickPick rows for confirmation: one per pairing, then the unmatched modules. */
export function planRows(plan: LoraPlanResult): { label: string; description: string; detail: string; unmatched: boolean }[] {
  const rows = plan.pairs.map((p) => ({
    label: p.module,
    description: `→ ${p.target} ${p.dtype}[${p.shape.join(', ')}]`,
    detail: `${p.kind === 'replace' ? 'replaced (modules_to_save)' : `${p.algorithm}, rank ${p.rank}, alpha ${p.alpha}, scale ${sci(p.scale)}${p.dora_convention ? `, DoRA (${p.dora_convention})` : ''}`} · ${path.basename(p.adapter)} · ${p.evidence.map(vscodeText).join('; ')}${p.shared_with.length ? ` · shared with ${p.shared_with.join(', ')}` : ''}`,
    unmatched: false,
  }));
  for (const u of plan.unmatched) {
    rows.push({ label: `$(warning) ${u.module}`, description: 'not matched', detail: `${vscodeText(u.reason)}${u.candidates?.length ? ` (candidates: ${u.candidates.join('; ')})` : ''}`, unmatched: true });
  }
  return rows;
}

export function mergeSummary(r: LoraMergeResult, verification: VerifyReport | null): string {
  const n = r.merged.length;
  const maxRel = Math.max(0, ...r.merged.map((m) => m.rel_change));
  const parts = [`Merged ${n} adapter module${n === 1 ? '' : 's'} into ${path.basename(r.base)} → ${path.basename(r.output)} (largest ‖ΔW‖/‖W‖ ${sci(maxRel)}).`];
  if (verification) {
    // A merge is meant to change the outputs: report how far they moved, not pass/fail.
    const moved = Object.entries(verification.outputs).map(([name, o]) => `'${name}' max |Δ| ${sci(o.max_abs)}, cosine ${o.cosine === null ? 'n/a' : o.cosine.toFixed(6)}`);
    parts.push(`Outputs vs. the base in ONNX Runtime: ${moved.join('; ')}. Inputs: ${inputsLine(verification.inputs, path.basename)}.`);
  }
  return parts.join(' ');
}
