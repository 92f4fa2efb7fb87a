/**
 * The VS Code extension's words for the engine's front-end terms
 * (engine/remedy.ts): a remedy is what a VS Code user does — a choice in
 * "Merge LoRA Adapter…", a row of the key mapping editor, a setting — never a
 * command-line flag (the CLI words the same terms as flags in
 * cli/remedyText.ts). Pure functions: no `vscode` import, so tests call them
 * directly.
 */
import * as path from 'node:path';
import { errorText, ModelFuseError } from '../engine/errors';
import { neutralTerm, wordPhrase, type Phrase, type Remedy, type Term } from '../engine/remedy';

export function vscodeRemedyText(r: Remedy): string {
  switch (r.kind) {
    case 'shared-initializer':
      // "Merge LoRA Adapter…" asks for the policy (commands/sharedWeightChoice.ts) before the key mapping.
      return `: run “Merge LoRA Adapter…” and choose to give '${r.node}' its own merged copy or to change every reader, or leave '${r.module}' out in the key mapping to merge the other modules`;
    case 'pick-one-pairing':
      return '; in the key mapping, pair only one of these modules with it and leave the other out';
    case 'unmatched-modules':
      return ' | (pair the unmatched modules with base tensors in the key mapping, or leave them out to merge the rest)';
    case 'choose-adapter':
      return ' (choose at least one adapter when “Merge LoRA Adapter…” asks for them)';
    case 'one-adapter-each':
      return `; choose the adapter folders inside it instead (e.g. ${r.example})`;
    case 'adapter-alpha':
      return '; merge it from a PEFT adapter folder instead: adapter_config.json (with r and lora_alpha) beside the weights saved as adapter_model.safetensors';
    case 'replace-output':
      return ' (run the command again to write under a free name; the setting modelfuse.output.onRepeat decides whether ModelFuse replaces its own earlier results)';
    case 'inputs-file':
      return '; give the inputs as a file (.safetensors or .npy) with “ModelFuse: Verification Inputs…”';
  }
}

export function vscodeTerm(t: Term): string {
  switch (t.term) {
    case 'option':
      return neutralTerm(t);
    case 'mapped-by-hand':
      return `paired by hand in the key mapping (${t.file})`;
    case 'map-file':
      return `the key mapping (${path.basename(t.file)})`;
    case 'shared-policy':
      return '';
    case 'remedy':
      return vscodeRemedyText(t.remedy);
  }
}

/** A phrase (plan evidence, a reason, a plan error) as the extension shows it. */
export function vscodeText(p: Phrase): string {
  return wordPhrase(p, vscodeTerm);
}

/** A ModelFuseError's one line as the extension shows it (its remedy as a VS Code action). */
export function vscodeErrorText(err: ModelFuseError): string {
  return errorText(err, vscodeText);
}

/** The one line of any error for a notification or the log: a ModelFuseError worded for VS Code, else its message. */
export function messageOf(err: unknown): string {
  if (err instanceof ModelFuseError) return vscodeErrorText(err);
  return err instanceof Error ? err.message : String(err);
}
