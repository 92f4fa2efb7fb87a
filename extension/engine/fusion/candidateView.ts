/**
 * A candidate as the views get it (worker → host → webview): the scan's
 * candidate plus what every front end shows of it — its name, whether ONNX
 * fuse can apply it and why not, a LoRA branch's facts, its warnings in
 * words — decided here once, so the tree, the overview, the graph and the fuse command agree.
 */
import type { Candidate } from './candidate';
import { fusibility, type Fusibility } from './fusibility';
import { warningGist, warningLabel, warningText, type CandidateWarning } from './warnings';

/** A warning with its words for each place it is shown (warnings.ts words them). */
export type WordedWarning = CandidateWarning & {
  /** The whole sentence (tooltips). */
  text: string;
  /** A few words for a list row. */
  label: string;
  /** One line for a table cell. */
  gist: string;
};

export interface CandidateView extends Candidate {
  /** Its modules when known, else its node names: `layer1.0.conv1 → layer1.0.bn1`. */
  label: string;
  fusibility: Fusibility;
  /** For a LoRA branch: `rank 4`, `scale 2`, `3 adapters`, `DoRA`; empty otherwise. */
  loraFacts: string[];
  warnings: WordedWarning[];
}

export function toCandidateView(c: Candidate): CandidateView {
  const foldsInOnnx = c.folds && c.blocked === null;
  const warnings = c.warnings.map((w) => ({ ...w, text: warningText(w), label: warningLabel(w), gist: warningGist(w, foldsInOnnx) }));
  return { ...c, label: candidateLabel(c), fusibility: fusibility(c), loraFacts: loraBranchFacts(c), warnings };
}

/**
 * How a candidate is named to users: its modules when known, else its node names. A Conv the exporter
 * folded a BatchNorm into is one node for two modules: the BatchNorm has no node to name it by, and
 * the activation after it is the Conv's next node, not the BatchNorm's.
 */
export function candidateLabel(c: Pick<Candidate, 'modules' | 'nodes' | 'details'>): string {
  const folded = c.details?.foldedByExporter === true;
  const nodeAt = (i: number): string | undefined => (!folded ? c.nodes[i] : i === 0 ? c.nodes[0] : i === 1 ? undefined : c.nodes[i - 1]);
  return c.modules.map((m, i) => m ?? nodeAt(i) ?? (folded && i === 1 ? '(BatchNorm folded by the exporter)' : '?')).join(' → ');
}

/**
 * What a LoRA branch adds to its module's name, for the tree and the overview
 * table: `rank 4 · scale 2`, plus the adapter count when several are stacked
 * and DoRA when the branch rescales the base. Empty for other patterns and
 * when the scan knew none of them.
 */
export function loraBranchFacts(c: Pick<Candidate, 'pattern' | 'details'>): string[] {
  const d = c.details;
  if (c.pattern !== 'lora-branch' || !d) return [];
  const facts: string[] = [];
  if (d.rank !== undefined && d.rank !== null) facts.push(`rank ${d.rank}`);
  if (d.scale !== undefined) facts.push(`scale ${d.scale}`);
  if (d.adapters !== undefined && d.adapters > 1) facts.push(`${d.adapters} adapters`);
  if (d.dora) facts.push('DoRA');
  return facts;
}
