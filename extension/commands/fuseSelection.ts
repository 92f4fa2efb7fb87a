/**
 * What "Fuse selected modules" fuses: the tree selection (sequences and/or
 * modules, multi-selected) resolved to candidate ids, and every selected item
 * that cannot be fused, named with the reason — never silently dropped.
 *
 * A selected sequence is fused when it can be (not blocked, folds something).
 * Selected modules pick the sequences whose modules are ALL selected (a
 * container selects everything below it), like the module lists PyTorch's
 * fuse_modules takes; a module left over is reported. In a PEFT export the
 * tree's `base_model.model.<layer>` (or its `base_layer`) selects the LoRA
 * branch named `<layer>`: paths are compared only through peftModulePath.
 */
import type { CandidateView } from '../engine/fusion/candidateView';
import { isModuleWithin } from '../engine/graph/peftModulePath';

export type SelectedItem = { kind: 'module'; path: string } | { kind: 'sequence'; id: string };

export interface Refusal {
  /** How the item is named in the tree (`conv-bn · conv1 → bn1`, `layer1.0.conv1`). */
  item: string;
  reason: string;
}

export interface FuseRequest {
  /** Candidate ids to fuse, in scan order, without duplicates. */
  ids: string[];
  refused: Refusal[];
}

const covers = isModuleWithin;

export function resolveFuseSelection(selection: readonly SelectedItem[], candidates: readonly CandidateView[]): FuseRequest {
  const chosen = new Set<string>();
  const refused: Refusal[] = [];
  const byId = new Map(candidates.map((c) => [c.id, c]));

  for (const s of selection) {
    if (s.kind !== 'sequence') continue;
    const c = byId.get(s.id);
    if (!c) refused.push({ item: s.id, reason: 'this sequence is no longer in the model (it changed on disk?): refresh and select again' });
    else if (c.fusibility.fusible) chosen.add(c.id);
    else refused.push({ item: sequenceName(c), reason: c.fusibility.reason ?? 'cannot be fused' });
  }

  const modules = selection.filter((s): s is { kind: 'module'; path: string } => s.kind === 'module').map((s) => s.path);
  if (modules.length) {
    const isSelected = (m: string) => modules.some((sel) => covers(sel, m));
    const fullyCovered = candidates.filter((c) => c.modules.some((m) => m !== null) && c.modules.every((m) => m !== null && isSelected(m)));
    const pickedByModules = fullyCovered.filter((c) => c.fusibility.fusible);
    for (const c of pickedByModules) chosen.add(c.id);
    for (const sel of modules) {
      if (pickedByModules.some((c) => c.modules.some((m) => m !== null && covers(sel, m)))) continue;
      refused.push({ item: sel || '(top level)', reason: moduleRefusal(sel, candidates, fullyCovered) });
    }
  }

  const ids = candidates.filter((c) => chosen.has(c.id)).map((c) => c.id);
  return { ids, refused };
}

/** Why a selected module contributed no sequence. */
function moduleRefusal(sel: string, candidates: readonly CandidateView[], fullyCovered: readonly CandidateView[]): string {
  const touching = candidates.filter((c) => c.modules.some((m) => m !== null && covers(sel, m)));
  if (touching.length === 0) return 'not part of any fusible sequence';
  const covered = fullyCovered.filter((c) => touching.includes(c));
  if (covered.length > 0) return covered[0].fusibility.reason ?? 'cannot be fused';
  const partial = touching[0];
  return `part of ${sequenceName(partial)}: select all of its modules, or the sequence itself`;
}

export function sequenceName(c: CandidateView): string {
  return `${c.pattern} (${c.label})`;
}

/** "Fuse all safe sequences": every candidate the ONNX fuse can apply. */
export function allSafeIds(candidates: readonly CandidateView[]): string[] {
  return candidates.filter((c) => c.fusibility.fusible).map((c) => c.id);
}
