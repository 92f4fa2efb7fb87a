/**
 * The CLI's words for the engine's front-end terms (engine/remedy.ts): an
 * option the user set is its flag (`--shape x=1x3`), a remedy is the flag to
 * pass. These are the texts the CLI has always printed; tests and the README
 * quote them.
 */
import { errorText, type ModelFuseError } from '../engine/errors';
import { wordPhrase, type Phrase, type Remedy, type SharedChoice, type Term } from '../engine/remedy';

export function cliRemedyText(r: Remedy): string {
  switch (r.kind) {
    case 'shared-initializer': {
      const what: Record<SharedChoice, string> = { untie: `to merge only into '${r.node}'`, all: 'to change every reader' };
      return `: pass ${r.options.map((o) => `--shared ${o} ${what[o]}`).join(', or ')}`;
    }
    case 'pick-one-pairing':
      return '; use --map to pick one';
    case 'unmatched-modules':
      return ' | (use `lora plan` to see the evidence, --map FILE to pair modules by hand, or --allow-unmatched to merge the rest)';
    case 'choose-adapter':
      return ' (use --adapter PATH[=weight])';
    case 'one-adapter-each':
      return `; pass each one, e.g. --adapter ${r.example}=1`;
    case 'adapter-alpha':
      return '; pass --alpha (and --rank to check the rank) so the scale alpha/r is known';
    case 'replace-output':
      return ' (use --force to replace it)';
    case 'inputs-file':
      return '; pass --inputs FILE.safetensors';
  }
}

export function cliTerm(t: Term): string {
  switch (t.term) {
    case 'option':
      return `--${t.option}${t.value !== undefined ? ` ${t.value}` : ''}`;
    case 'mapped-by-hand':
    case 'map-file':
      return `--map ${t.file}`;
    case 'shared-policy':
      return ` (--shared ${t.policy})`;
    case 'remedy':
      return cliRemedyText(t.remedy);
  }
}

/** A phrase (plan evidence, a reason, a plan error) as the CLI prints it. */
export function cliText(p: Phrase): string {
  return wordPhrase(p, cliTerm);
}

/** A ModelFuseError's one line as the CLI prints it (its remedy as flags). */
export function cliErrorText(err: ModelFuseError): string {
  return errorText(err, cliText);
}

/** Where an adapter's rank and alpha came from, as `lora plan` prints it: a file, or the values given with --rank/--alpha. */
export function cliConfigSource(config: { source: string; fromOptions?: boolean }): string {
  return config.fromOptions ? `${config.source} (--rank/--alpha)` : config.source;
}
