/**
 * Parameter and result types of the model, fusion and LoRA worker methods
 * (handlers in extension/workerProcess/handlers/engineHandlers.ts and
 * loraHandlers.ts), named by the method table in workerMethods.ts. Types
 * only: the host imports this without pulling in the engine.
 */
import type { PlanOptions, PlanValue } from '../engine/lora/plan';
import type { MergeReport } from '../engine/lora/merge';
import type { UsableBase } from '../engine/lora/baseProbe';
import type { MappingRow } from '../engine/lora/mappingTypes';
import type { FuseFileResult } from '../engine/fusion/fuse';
import type { PlanSummary } from '../engine/lora/planSummary';
import type { PythonDefinition } from '../engine/graph/pythonFolds';

export interface OverviewParams {
  /** Absolute path of a .onnx or .safetensors file. */
  path: string;
  /**
   * The model's Python definition as the host analysed it (the user chose the file): names the
   * BatchNorms the exporter folded away, as `--python` does for the CLI.
   */
  python?: PythonDefinition;
}

export interface FuseFileParams {
  /** Absolute path of the model to fuse (never modified). */
  model: string;
  /** Absolute path to write; must not exist (the host picks a free name). */
  output: string;
  /** Candidate ids from this model's scan (`ModelOverview.candidates[].id`). */
  candidateIds: string[];
  /** Overwrite `output`: the host passes true only for a previous result ModelFuse wrote (`modelfuse.output.onRepeat: replace`). */
  replace?: boolean;
}

/**
 * What `fusion/fuse` returns: the engine's own report of the fused file
 * (applied folds with their changed tensors, skipped candidates, node and
 * initializer counts), the same object the CLI's `fuse` reports from.
 */
export type { FuseFileResult, AppliedFold } from '../engine/fusion/fuse';

export interface LoraAdapterArg {
  /** A PEFT adapter folder or an adapter .safetensors file. */
  path: string;
  /** Multiplies this adapter's delta (1 = as trained). */
  weight: number;
}

export interface LoraPlanParams {
  base: string;
  adapters: LoraAdapterArg[];
  /** Scale, mapping file, rank/alpha, shared-initializer policy, unmerge: the same options as the CLI's `lora plan`. */
  plan?: PlanOptions;
  /** A mapping file (the CLI's format) that overrides the automatic matching. */
  map?: string;
}

/**
 * What `lora/plan` returns: the engine's plan summary — the very object
 * `modelfuse lora plan --json` prints (`usable` as without --allow-unmatched) —
 * plus the plan itself: `lora/merge` given `planned` executes exactly these
 * pairings (what the user confirmed) without matching again.
 */
export type LoraPlanResult = PlanSummary & { planned: PlanValue };
export type { PlanSummary, PlanSummaryPair, PlanSummaryAdapter } from '../engine/lora/planSummary';

export interface LoraMergeParams extends LoraPlanParams {
  output: string;
  /** Overwrite `output`: the host passes true only for a previous result ModelFuse wrote (`modelfuse.output.onRepeat: replace`). */
  replace?: boolean;
  /** Merge the matched modules even though some are unmatched (the user confirmed it). */
  allowUnmatched?: boolean;
  /** Replace an existing output. */
  force?: boolean;
  /** 'ort' (default): ONNX Runtime's merge graph and MatMul; 'js': the JavaScript kernels (for comparisons). */
  kernel?: 'ort' | 'js';
  /** A plan made before (`lora/plan`, or the CLI's own): merged as it is, refused if its files changed; base, adapters and options are then its own. */
  planned?: PlanValue;
}

export type LoraMergeResult = MergeReport & { base: string };

/** The plan as an editable table (the mapping editor): every module with its pairing, evidence and the base tensors of a fitting shape. */
export interface LoraMappingTableResult {
  plan: LoraPlanResult;
  rows: MappingRow[];
}

export interface ProbeBasesParams {
  /** Absolute paths of .onnx, .safetensors and *.safetensors.index.json files. */
  paths: string[];
}

/** Which files can be a merge's base (parsed in the worker), which are adapter files, and the others with the reason. */
export interface ProbeBasesResult {
  bases: UsableBase[];
  /** .safetensors files holding LoRA tensors: adapters, offered in the adapter picker. */
  adapterFiles: string[];
  skipped: { path: string; reason: string }[];
}

/**
 * What a fuse or merge produced, as passed to `modelfuse.showDiff` (the
 * parameter-diff panel) and written to the JSON report when that panel is
 * not installed: the two model files to compare plus the worker's reports.
 */
export type ModelChangeOutcome =
  | { kind: 'fuse'; before: string; after: string; fuse: FuseFileResult; verification: import('./workerProtocol').VerifyReport | null }
  | { kind: 'lora-merge'; before: string; after: string; merge: LoraMergeResult; plan: LoraPlanResult; verification: import('./workerProtocol').VerifyReport | null };
