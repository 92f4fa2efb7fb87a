/**
 * Applies candidates found by `scan` to a model: picks the ones asked for,
 * runs each one's exact fold, reports what was applied (with every changed
 * tensor) and what was skipped (with the reason), then removes whatever the
 * folds left dangling and checks that the graph is still sound.
 *
 * The model is changed in memory only; `fuseModelFile` writes the result to a new
 * path with `saveModel` (atomic, never over the input).
 */
import type { Candidate, PatternName } from './candidate';
import { OnnxModel } from '../onnx/model';
import { saveModel } from '../onnx/save';
import { checkOutputPath, sameFile } from '../io/atomicWrite';
import { externalRef } from '../onnx/externalData';
import { isExternal } from '../onnx/tensors';
import { fileError, ModelFuseError, throwIfCancelled, type CancelToken } from '../errors';
import { checkGraph, removeDangling, type CleanupReport } from '../graph/cleanup';
import { FoldContext, FoldRefusal, type FoldContextOptions, type FoldResult } from './folds/foldContext';
import { foldFor } from './folds/index';
import { scanModel } from './scan';
import { fusibility } from './fusibility';

/** Every pattern name `scan` can report (the PatternName union, as a runtime list). */
const PATTERN_SET: Record<PatternName, true> = {
  'conv-bn': true, 'conv-bn-relu': true, 'conv-relu': true, 'linear-relu': true, 'bn-relu': true, 'linear-bn': true,
  'convtranspose-bn': true, 'conv-add': true, 'conv-mul': true, 'matmul-add': true, 'lora-branch': true,
};
export const PATTERN_NAMES = Object.keys(PATTERN_SET) as PatternName[];

export interface FuseSelection {
  /** Only candidates of these patterns (names are checked). */
  patterns?: readonly string[];
  /** Only candidates with these ids (ids are checked against the scan). */
  only?: readonly string[];
}

export interface FuseOptions extends FuseSelection, FoldContextOptions {
  cancel?: CancelToken;
  onProgress?: (progress: { done: number; total: number; id: string }) => void;
}

export interface AppliedFold extends FoldResult {
  id: string;
  pattern: PatternName;
  nodes: string[];
  modules: (string | null)[];
}

export interface SkippedCandidate {
  id: string;
  reason: string;
}

export interface FuseReport {
  applied: AppliedFold[];
  skipped: SkippedCandidate[];
  cleanup: CleanupReport;
}

/**
 * The candidates a selection asks for. Without a selection: every candidate
 * whose pattern has an exact fold. Unknown pattern names or ids are a usage
 * error (a typo must not silently fuse nothing).
 */
export function selectCandidates(candidates: readonly Candidate[], selection: FuseSelection = {}): Candidate[] {
  const patterns = selection.patterns?.length ? new Set(selection.patterns) : null;
  const only = selection.only?.length ? new Set(selection.only) : null;
  for (const p of patterns ?? []) {
    if (!(p in PATTERN_SET)) throw new ModelFuseError(`unknown pattern '${p}' (known: ${PATTERN_NAMES.join(', ')})`);
  }
  for (const id of only ?? []) {
    if (!candidates.some((c) => c.id === id)) {
      const known = candidates.slice(0, 8).map((c) => c.id).join(', ');
      throw new ModelFuseError(`no candidate with id '${id}' in this model (${candidates.length ? `candidates: ${known}${candidates.length > 8 ? ', …' : ''}` : 'scan found none'})`);
    }
  }
  return candidates.filter((c) => {
    if (patterns && !patterns.has(c.pattern)) return false;
    if (only && !only.has(c.id)) return false;
    if (!patterns && !only) return c.folds && foldFor(c.pattern) !== undefined;
    return true;
  });
}

/** Fuses the selected candidates into `model` (in memory). */
export function fuseCandidates(model: OnnxModel, candidates: readonly Candidate[], options: FuseOptions = {}): FuseReport {
  const chosen = selectCandidates(candidates, options);
  const problemsBefore = new Set(checkGraph(model.graph));
  const ctx = new FoldContext(model, options);
  const applied: AppliedFold[] = [];
  const skipped: SkippedCandidate[] = [];
  chosen.forEach((c, i) => {
    throwIfCancelled(options.cancel);
    options.onProgress?.({ done: i, total: chosen.length, id: c.id });
    const reason = whyNotApplicable(c);
    if (reason) {
      skipped.push({ id: c.id, reason });
      return;
    }
    ctx.takeJournal(); // start from an empty journal
    try {
      const result = foldFor(c.pattern)!.apply(ctx, c);
      applied.push({ id: c.id, pattern: c.pattern, nodes: [...c.nodes], modules: [...c.modules], ...result });
    } catch (err) {
      if (!(err instanceof FoldRefusal)) throw err;
      skipped.push({ id: c.id, reason: err.message });
    }
  });
  options.onProgress?.({ done: chosen.length, total: chosen.length, id: '' });

  const cleanup = removeDangling(model.graph, { removedNodes: ctx.removedNodes, seeds: ctx.released });
  const newProblems = checkGraph(model.graph).filter((p) => !problemsBefore.has(p));
  if (newProblems.length) {
    // A fold broke an invariant: a bug, never the user's fault. Nothing has been written.
    throw new Error(`fusing produced an invalid graph: ${newProblems.slice(0, 3).join('; ')}`);
  }
  return { applied, skipped, cleanup };
}

function whyNotApplicable(c: Candidate): string | null {
  const f = fusibility(c);
  if (!f.fusible) return f.reason;
  if (!foldFor(c.pattern)) return `no fold is available for pattern ${c.pattern}`;
  return null;
}

/** More passes than any real chain needs (Conv → Mul → Add is two); a bound so a bug cannot loop forever. */
const MAX_PASSES = 8;

/**
 * Scans and fuses until nothing more folds. One fold can expose another:
 * exporters that spell BatchNorm out as Conv → Mul → Add (tf2onnx, Keras)
 * give conv-mul first, and only once the Mul is inside the Conv is the Add a
 * conv-add. With `only` (ids of the first scan) there is exactly one pass.
 */
export function scanAndFuse(model: OnnxModel, options: FuseOptions = {}): FuseReport {
  const total: FuseReport = { applied: [], skipped: [], cleanup: { removedNodes: [], removedInitializers: [], removedInputs: [], removedValueInfo: [] } };
  const skipped = new Map<string, string>();
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const { candidates } = scanModel(model);
    throwIfCancelled(options.cancel);
    // Later passes look only at what is new: earlier skips were already reported.
    const fresh = pass === 0 ? candidates : candidates.filter((c) => !skipped.has(c.id));
    const report = fuseCandidates(model, fresh, options);
    for (const a of report.applied) total.applied.push({ ...a, id: uniqueId(a.id, total.applied) });
    for (const s of report.skipped) skipped.set(s.id, s.reason);
    for (const k of Object.keys(total.cleanup) as (keyof CleanupReport)[]) total.cleanup[k].push(...report.cleanup[k]);
    if (report.applied.length === 0 || options.only?.length) break;
  }
  total.skipped = [...skipped].map(([id, reason]) => ({ id, reason }));
  return total;
}

/** A second fold on the same first node in a later pass gets scan's clash suffix (`#2`), so applied ids stay unique. */
function uniqueId(id: string, applied: readonly AppliedFold[]): string {
  let unique = id;
  for (let k = 2; applied.some((a) => a.id === unique); k++) unique = `${id}#${k}`;
  return unique;
}

export interface FuseFileOptions extends FuseOptions {
  /** Replace an existing output file (never needed for, and never allowing, writing over the input without it). */
  force?: boolean;
  /**
   * Checks the finished temporary model before it is moved into place (`fuse --verify`); false: the
   * output is not written (a thrown error: nothing is written either).
   */
  beforeCommit?: (tempModel: string) => Promise<boolean>;
  /** When `beforeCommit` says false, write the rejected model here instead (`--keep-failed`). */
  keepFailedAs?: string;
}

export interface FuseFileResult extends FuseReport {
  input: string;
  output: string;
  /** False when `beforeCommit` rejected the result: `output` was not written. */
  committed: boolean;
  /** Where the rejected model was written instead (`keepFailedAs`), or null. */
  keptFailed: string | null;
  /** The external-data file written beside the output, or null. */
  externalData: string | null;
  nodesBefore: number;
  nodesAfter: number;
  initializersBefore: number;
  initializersAfter: number;
}

/**
 * Scans `input`, fuses the selected candidates and writes the result to
 * `output` (atomically; the input is never modified). When nothing could be
 * fused the output is still written, unchanged, so pipelines get their file;
 * `applied` is then empty and `skipped` says why.
 */
export async function fuseModelFile(input: string, output: string, options: FuseFileOptions = {}): Promise<FuseFileResult> {
  refuseInPlace(input, output);
  checkOutputPath(output, [input], options.force ?? false); // fail before the heavy work, not after
  if (options.keepFailedAs) {
    refuseInPlace(input, options.keepFailedAs);
    checkOutputPath(options.keepFailedAs, [input], options.force ?? false);
  }
  // Weights on demand: a fold reads the tensors it changes; the save copies every other one from the input file.
  const model = OnnxModel.load(input, { weights: 'on-demand' });
  try {
    for (const file of externalFiles(model)) {
      // Even with --force: the fused model would replace weights the input model still points at.
      if (sameFile(file, output) || sameFile(file, `${output}.data`)) throw fileError(output, `would overwrite '${file}', which holds the input model's weights`);
    }
    const nodesBefore = model.graph.node?.length ?? 0;
    const initializersBefore = model.graph.initializer?.length ?? 0;
    const report = scanAndFuse(model, options);
    throwIfCancelled(options.cancel);
    const saved = await saveModel(model, output, { force: options.force, beforeCommit: options.beforeCommit });
    const kept = !saved.committed && options.keepFailedAs ? await saveModel(model, options.keepFailedAs, { force: options.force }) : null;
    const written = saved.committed ? saved : kept;
    return {
      ...report,
      input,
      output,
      committed: saved.committed,
      keptFailed: kept?.output ?? null,
      externalData: written?.externalData ?? null,
      nodesBefore,
      nodesAfter: model.graph.node?.length ?? 0,
      initializersBefore,
      initializersAfter: model.graph.initializer?.length ?? 0,
    };
  } finally {
    model.close();
  }
}

/** fuse never writes over its input, not even with --force: a failed or wrong fuse must leave the original intact. */
function refuseInPlace(input: string, output: string): void {
  if (sameFile(input, output)) throw fileError(output, 'is the input model; fuse never writes over its input (choose a new file)');
}

function externalFiles(model: OnnxModel): string[] {
  const files = new Set<string>();
  for (const t of model.graph.initializer ?? []) {
    const ref = isExternal(t) ? externalRef(t) : undefined;
    if (ref) files.add(model.external.resolve(ref.location, t.name ?? ''));
  }
  return [...files];
}
