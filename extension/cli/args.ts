/**
 * A small, strict argument parser for the CLI: `--flag`, `--opt value`,
 * `--opt=value`, repeatable options, positionals. Unknown options are an
 * error (a typo must not silently change what a pipeline does).
 */
import { ModelFuseError } from '../engine/errors';

export interface OptionSpec {
  /** Takes a value (`--out F`) rather than being a boolean flag. */
  value?: boolean;
  /** May be given several times; values are collected in order. */
  repeat?: boolean;
  /** Short alias, e.g. 'o' for -o. */
  short?: string;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Set<string>;
  values: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: new Set(), values: new Map() };
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([k, s]) => [s.short!, k]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (arg.startsWith('-') && arg.length === 2) {
      name = byShort.get(arg[1]);
      if (!name) throw new ModelFuseError(`unknown option ${arg}`);
    } else {
      out.positionals.push(arg);
      continue;
    }
    const s = spec[name];
    if (!s) throw new ModelFuseError(`unknown option --${name}`);
    if (!s.value) {
      if (inline !== undefined) throw new ModelFuseError(`option --${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new ModelFuseError(`option --${name} needs a value`);
    const list = out.values.get(name) ?? [];
    if (list.length && !s.repeat) throw new ModelFuseError(`option --${name} given twice`);
    list.push(v);
    out.values.set(name, list);
  }
  return out;
}

export function optValue(a: ParsedArgs, name: string): string | undefined {
  return a.values.get(name)?.[0];
}

export function optNumber(a: ParsedArgs, name: string, dflt: number): number {
  const v = optValue(a, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ModelFuseError(`option --${name}: '${v}' is not a number`);
  return n;
}

export function requirePositionals(a: ParsedArgs, names: string[], usage: string): string[] {
  if (a.positionals.length !== names.length) {
    throw new ModelFuseError(`expected ${names.join(' ')}; usage: ${usage}`);
  }
  return a.positionals;
}

/** Options every command accepts. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: {},
  debug: {},
  help: { short: 'h' },
};
