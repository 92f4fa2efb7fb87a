/**
 * Texts whose words depend on the front end. The engine states a problem
 * once, front-end-neutral; where a text names something the user set or can
 * do — an option of the CLI, a control of the VS Code extension — it holds a
 * typed `Term` instead of words, and each front end words the terms its own
 * way: the CLI as its flags (extension/cli/remedyText.ts), the extension as
 * the picker, setting or editor a VS Code user works with
 * (extension/host/remedyText.ts). `neutralText` words them without either:
 * that is an error's `message` and what a log may show.
 *
 * Nothing here (or anywhere in extension/engine) names a CLI flag or a
 * VS Code control.
 */

/** How a plan may treat an ONNX initializer that other nodes read as well (plan.ts SharedPolicy minus 'error'). */
export type SharedChoice = 'untie' | 'all';

/** What the user can do about a problem, with the values a front end needs to say it. */
export type Remedy =
  /** An adapted weight is shared with other nodes: give the adapted node its own copy, or change every reader. */
  | { kind: 'shared-initializer'; module: string; node: string; options: readonly SharedChoice[] }
  /** One adapter changes a tensor through two modules: pair only one of them with it. */
  | { kind: 'pick-one-pairing' }
  /** Adapter modules matched no base tensor: see the evidence, pair them by hand, or merge the rest. */
  | { kind: 'unmatched-modules' }
  /** No adapter was given. */
  | { kind: 'choose-adapter' }
  /** A folder holds several adapters: give each one (`example` is the first). */
  | { kind: 'one-adapter-each'; example: string }
  /** A bare adapter file without a config: the scale alpha/r needs alpha (and the rank to check). */
  | { kind: 'adapter-alpha' }
  /** The output exists: allow replacing it, or write elsewhere. */
  | { kind: 'replace-output' }
  /** Random inputs cannot be made for an input type: give the inputs as a file. */
  | { kind: 'inputs-file' };

export type RemedyKind = Remedy['kind'];

/** Every remedy kind, for front ends' exhaustive tests. */
export const REMEDY_KINDS: readonly RemedyKind[] = ['shared-initializer', 'pick-one-pairing', 'unmatched-modules', 'choose-adapter', 'one-adapter-each', 'adapter-alpha', 'replace-output', 'inputs-file'];

/** A value the user gave through an option (the CLI's flag, the extension's setting or picker). */
export type OptionName = 'shape' | 'int-range' | 'adapter' | 'alpha' | 'subtract';

/** A part of a text that a front end words. */
export type Term =
  /** The value of an option the user set: "--shape x=1x3" in the CLI, "input shape x=1x3" elsewhere. */
  | { term: 'option'; option: OptionName; value?: string }
  /** A pairing made by hand in a mapping file (basename): plan evidence. */
  | { term: 'mapped-by-hand'; file: string }
  /** The mapping file a module was left out by. */
  | { term: 'map-file'; file: string }
  /** The shared-initializer policy that made a pairing possible: plan evidence. */
  | { term: 'shared-policy'; policy: SharedChoice }
  /** The remedy of a problem (its own separator included): nothing in the neutral text. */
  | { term: 'remedy'; remedy: Remedy };

export type TermKind = Term['term'];

/** A text: plain words, or words and terms in order. Plain JSON, so it crosses the worker boundary as is. */
export type Phrase = string | readonly (string | Term)[];

/** Words one term the way a front end does. */
export type TermWorder = (t: Term) => string;

/** The words of a phrase with every term worded by `word`. */
export function wordPhrase(p: Phrase, word: TermWorder): string {
  return typeof p === 'string' ? p : p.map((part) => (typeof part === 'string' ? part : word(part))).join('');
}

/** Neutral words: the problem without any front end's remedy. */
export function neutralTerm(t: Term): string {
  switch (t.term) {
    case 'option':
      return `${NEUTRAL_OPTION[t.option]}${t.value !== undefined ? ` ${t.value}` : ''}`;
    case 'mapped-by-hand':
      return `paired by hand (${t.file})`;
    case 'map-file':
      return `the mapping ${t.file}`;
    case 'shared-policy':
      return '';
    case 'remedy':
      return '';
  }
}

const NEUTRAL_OPTION: Record<OptionName, string> = {
  shape: 'input shape',
  'int-range': 'integer range',
  adapter: 'adapter',
  alpha: 'alpha',
  subtract: 'unmerge',
};

export function neutralText(p: Phrase): string {
  return wordPhrase(p, neutralTerm);
}

/** The remedy a phrase ends with, if any. */
export function remedyOf(p: Phrase): Remedy | undefined {
  if (typeof p === 'string') return undefined;
  for (let i = p.length - 1; i >= 0; i--) {
    const part = p[i];
    if (typeof part !== 'string' && part.term === 'remedy') return part.remedy;
  }
  return undefined;
}

/** The parts in order as one phrase (plain words when no part holds a term). */
export function joinPhrase(...parts: readonly Phrase[]): Phrase {
  const out: (string | Term)[] = [];
  for (const p of parts) {
    if (typeof p === 'string') out.push(p);
    else out.push(...p);
  }
  return out.every((x) => typeof x === 'string') ? out.join('') : out;
}

/** Whether a phrase names a mapping file that left a module out (the mapping editor's "left out" rows). */
export function isLeftOutByMap(p: Phrase): boolean {
  return typeof p !== 'string' && p.some((part) => typeof part !== 'string' && part.term === 'map-file');
}
