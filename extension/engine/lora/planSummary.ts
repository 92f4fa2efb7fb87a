/**
 * A LoRA plan as data: the one summary of what a merge would change, used
 * by every front end. It is the object `modelfuse lora plan --json` prints
 * (its keys and their order are that public contract), and the worker's
 * `lora/plan` returns it too (plus the plan itself, to merge as confirmed),
 * for the extension's confirmation, mapping editor and parameter diff.
 *
 * Plain data only (strings, numbers, arrays): it crosses the worker's IPC
 * channel and is written as JSON. Texts that name what a user can set or do
 * are phrases (engine/remedy.ts) until a front end words them
 * (`wordPlanSummary`): the CLI as flags, the extension as its own controls.
 */
import type { AdapterFormat } from './adapterFormats';
import type { LoraPlan, UnmatchedModule } from './plan';
import type { Phrase } from '../remedy';
import type { DeltaKind } from './targetTypes';
import { zeroScaleNote } from './zeroScale';

/** Where an adapter's rank and alpha came from: a file, or values the user gave (the CLI's --rank/--alpha). */
export interface ConfigSource {
  source: string;
  fromOptions: boolean;
}

/** `W`: how texts are held (phrases, or words once a front end worded them); `C`: the config source (as data, or worded). */
export interface PlanSummaryAdapterOf<C> {
  /** The adapter as given (folder or file). */
  adapter: string;
  /** The weights file read. */
  file: string;
  format: AdapterFormat;
  weight: number;
  modules: number;
  /** Where its rank/alpha came from (adapter_config.json, the file's metadata, values given by the user). */
  config: C;
}

/** One adapter module → base tensor pairing, with the numbers and the evidence behind it. */
export interface PlanSummaryPairOf<W> {
  adapter: string;
  module: string;
  /** The adapter keys of this module. */
  keys: string[];
  kind: 'lora' | 'replace';
  delta: DeltaKind;
  /** Tensor written. */
  target: string;
  /** Base tensor read, when it differs from `target` (a shared initializer untied); absent otherwise. */
  source?: string;
  shape: number[];
  dtype: string;
  transposed: boolean;
  bias: string | null;
  rank: number;
  alpha: number;
  /** PEFT's alpha/r (or alpha/√r). */
  peft_scale: number;
  /** User weight of this adapter. */
  weight: number;
  global_scale: number;
  /** weight × global_scale × peft_scale: the factor in front of B·A. */
  scale: number;
  scale_evidence: W;
  dora: boolean;
  /** LoRA, LoCon (Tucker, lora_mid), LoHa, LoKr, full diff, modules_to_save. */
  algorithm: string;
  /** The DoRA convention in words, or null when the module is not DoRA. */
  dora_convention: string | null;
  /** ONNX: the node whose weight this is; null for safetensors bases. */
  node: string | null;
  /** Other nodes reading the same initializer (ONNX), if any. */
  shared_with: string[];
  /** Why this tensor (the matching evidence), one line each. */
  evidence: W[];
}

export interface PlanSummaryOf<W, C> {
  base: string;
  base_kind: 'onnx' | 'safetensors';
  /** Mergeable as it is: no errors, something to merge, and no unmatched module unless they are allowed. */
  usable: boolean;
  adapters: PlanSummaryAdapterOf<C>[];
  pairs: PlanSummaryPairOf<W>[];
  /** Modules not paired, with the reason and, when ambiguous, the candidates. */
  unmatched: (Omit<UnmatchedModule, 'reason'> & { reason: W })[];
  /** Problems that make a merge impossible (shape mismatches, a tensor changed twice). */
  errors: W[];
  /** Present only when there is something to say (adapters whose scale is zero). */
  note?: string;
}

/** The summary as the engine makes it and the worker sends it: texts still phrases. */
export type PlanSummary = PlanSummaryOf<Phrase, ConfigSource>;
export type PlanSummaryPair = PlanSummaryPairOf<Phrase>;
export type PlanSummaryAdapter = PlanSummaryAdapterOf<ConfigSource>;
/** The summary in one front end's words (the CLI's `lora plan --json`). */
export type WordedPlanSummary = PlanSummaryOf<string, string>;

/** A plan can be merged: no errors, at least one pairing, and no unmatched module unless `allowUnmatched`. */
export function planUsable(plan: LoraPlan, allowUnmatched: boolean): boolean {
  return plan.errors.length === 0 && (allowUnmatched || plan.unmatched.length === 0) && plan.pairs.length > 0;
}

/** The summary of a plan; `allowUnmatched` (the CLI's --allow-unmatched) only decides `usable`. */
export function planSummary(plan: LoraPlan, options: { allowUnmatched?: boolean } = {}): PlanSummary {
  const note = zeroScaleNote(plan.pairs);
  return {
    base: plan.basePath,
    base_kind: plan.baseKind,
    usable: planUsable(plan, options.allowUnmatched ?? false),
    adapters: plan.adapters.map((x) => ({
      adapter: x.spec,
      file: x.weightsPath,
      format: x.format,
      weight: x.weight,
      modules: x.modules.length,
      config: { source: x.config.source, fromOptions: x.config.fromOptions ?? false },
    })),
    pairs: plan.pairs.map((p) => ({
      adapter: p.adapter, module: p.module, keys: p.keys, kind: p.kind, delta: p.deltaKind, target: p.target,
      source: p.source !== p.target ? p.source : undefined,
      shape: p.targetShape, dtype: p.targetDtype, transposed: p.transposed, bias: p.bias ?? null, rank: p.rank, alpha: p.alpha,
      peft_scale: p.peftScale, weight: p.weight, global_scale: p.globalScale, scale: p.scale, scale_evidence: p.scaleEvidence, dora: p.dora,
      algorithm: p.algorithm, dora_convention: p.doraConvention,
      node: p.node ?? null, shared_with: p.sharedWith ?? [], evidence: p.evidence,
    })),
    unmatched: plan.unmatched,
    errors: plan.errors,
    ...(note ? { note } : {}),
  };
}

/** The summary with its phrases and config sources worded by one front end; every other field as it is. */
export function wordPlanSummary(s: PlanSummary, word: (p: Phrase) => string, wordConfig: (c: ConfigSource) => string): WordedPlanSummary {
  return {
    ...s,
    adapters: s.adapters.map((a) => ({ ...a, config: wordConfig(a.config) })),
    pairs: s.pairs.map((p) => ({ ...p, scale_evidence: word(p.scale_evidence), evidence: p.evidence.map(word) })),
    unmatched: s.unmatched.map((u) => ({ ...u, reason: word(u.reason) })),
    errors: s.errors.map(word),
  };
}
