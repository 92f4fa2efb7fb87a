/**
 * PEFT's `adapter_config.json`: every field that changes merged numbers, and
 * the per-module scale PEFT derives from them. Kept free of file I/O so that
 * other code (the LoRA-branch graph fold) can reuse `moduleScale` on a config
 * it found elsewhere.
 *
 * scale = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora, where r and
 * lora_alpha may be overridden per module by `rank_pattern` / `alpha_pattern`.
 * PEFT picks the override with `get_pattern_key`: the first pattern key (in
 * the order the JSON lists them) for which `re.match(rf"(.*\.)?({key})$",
 * module_name)` succeeds — so a key is a regular expression matched against a
 * dotted suffix of the module name. Keys come from untrusted files, so they
 * run on a linear-time matcher (text/linearRegex.ts), never on a backtracking
 * engine that a key like `((.|.)*)*X` would hang.
 */
import { ModelFuseError } from '../errors';
import { LinearRegex, PatternSyntaxError } from '../text/linearRegex';

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** The base layer stores its weight as [in, out] (GPT-2 Conv1D). */
  fanInFanOut: boolean;
  /** lora_B carries a bias that is added (times the scale) to the base bias. */
  loraBias: boolean;
  useDora: boolean;
  modulesToSave: string[];
  /** As written in the config (list or regex string); informational, the adapter's keys say what is adapted. */
  targetModules: string[] | string | null;
  /** Where the config came from, for messages. */
  source: string;
  /** No config: rank and alpha are the ones the user gave (a bare adapter file); the rank is then checked against the tensors only when given. */
  fromOptions?: boolean;
}

/** Fields that would change the merge but that ModelFuse does not implement: refuse rather than merge wrongly. */
const UNSUPPORTED_TRUTHY = ['use_qalora', 'layer_replication', 'trainable_token_indices', 'target_parameters', 'use_bdlora'];

export function parseLoraConfig(raw: unknown, source: string): LoraConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFuseError(`${source}: adapter config is not a JSON object`);
  const c = raw as Record<string, unknown>;
  const peftType = c.peft_type;
  if (peftType !== undefined && peftType !== null && peftType !== 'LORA') {
    throw new ModelFuseError(`${source}: peft_type is '${String(peftType)}'; only LORA adapters can be merged`);
  }
  for (const f of UNSUPPORTED_TRUTHY) {
    const v = c[f];
    if (v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && Object.keys(v as object).length === 0)) {
      throw new ModelFuseError(`${source}: '${f}' is set; ModelFuse cannot merge adapters that use it`);
    }
  }
  const r = positiveNumber(c.r, 'r', source, 8);
  const loraAlpha = finiteNumber(c.lora_alpha, 'lora_alpha', source, 8);
  const cfg: LoraConfig = {
    r,
    loraAlpha,
    useRslora: bool(c.use_rslora, 'use_rslora', source),
    rankPattern: numberMap(c.rank_pattern, 'rank_pattern', source),
    alphaPattern: numberMap(c.alpha_pattern, 'alpha_pattern', source),
    fanInFanOut: bool(c.fan_in_fan_out, 'fan_in_fan_out', source),
    loraBias: bool(c.lora_bias, 'lora_bias', source),
    useDora: bool(c.use_dora, 'use_dora', source),
    modulesToSave: stringList(c.modules_to_save, 'modules_to_save', source),
    targetModules: Array.isArray(c.target_modules) ? c.target_modules.map(String) : typeof c.target_modules === 'string' ? c.target_modules : null,
    source,
  };
  for (const k of [...Object.keys(cfg.rankPattern), ...Object.keys(cfg.alphaPattern)]) compilePattern(k, source);
  return cfg;
}

/** A config for adapters that carry none (bare safetensors without metadata): from --rank/--alpha. */
export function defaultLoraConfig(r: number, alpha: number, source: string): LoraConfig {
  return parseLoraConfig({ r, lora_alpha: alpha }, source);
}

const compiled = new Map<string, LinearRegex>();

function compilePattern(key: string, source: string): LinearRegex {
  let re = compiled.get(key);
  if (!re) {
    try {
      // Python's re.match(rf"(.*\.)?({key})$", name): anchored at the start, `$` at the end.
      re = new LinearRegex(`(?:.*\\.)?(?:${key})`);
    } catch (err) {
      if (!(err instanceof PatternSyntaxError)) throw err;
      throw new ModelFuseError(`${source}: pattern '${key}' cannot be used: ${err.message}`);
    }
    compiled.set(key, re);
  }
  return re;
}

/** PEFT's get_pattern_key: the first pattern (JSON order) matching a dotted suffix of `moduleName`. */
export function patternKey(patternKeys: readonly string[], moduleName: string): string | undefined {
  for (const key of patternKeys) if (compilePattern(key, 'pattern').fullMatch(moduleName)) return key;
  return undefined;
}

export interface ModuleScale {
  rank: number;
  alpha: number;
  scale: number;
  /** Which pattern keys decided rank/alpha (for the plan's evidence). */
  rankFrom: string | null;
  alphaFrom: string | null;
}

/** r, alpha and the scale PEFT uses for one module (module name as in the base model, without `base_model.model.`). */
export function moduleScale(cfg: LoraConfig, moduleName: string): ModuleScale {
  const rk = patternKey(Object.keys(cfg.rankPattern), moduleName);
  const ak = patternKey(Object.keys(cfg.alphaPattern), moduleName);
  const rank = rk !== undefined ? cfg.rankPattern[rk] : cfg.r;
  const alpha = ak !== undefined ? cfg.alphaPattern[ak] : cfg.loraAlpha;
  const scale = cfg.useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
  return { rank, alpha, scale, rankFrom: rk ?? null, alphaFrom: ak ?? null };
}

function finiteNumber(v: unknown, name: string, source: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFuseError(`${source}: '${name}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function positiveNumber(v: unknown, name: string, source: string, dflt: number): number {
  const n = finiteNumber(v, name, source, dflt);
  if (n <= 0) throw new ModelFuseError(`${source}: '${name}' must be positive, got ${n}`);
  return n;
}

function bool(v: unknown, name: string, source: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new ModelFuseError(`${source}: '${name}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function numberMap(v: unknown, name: string, source: string): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ModelFuseError(`${source}: '${name}' must be an object of numbers`);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as object)) {
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new ModelFuseError(`${source}: '${name}.${k}' must be a positive number, got ${JSON.stringify(x)}`);
    out[k] = x;
  }
  return out;
}

function stringList(v: unknown, name: string, source: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ModelFuseError(`${source}: '${name}' must be a list of module names`);
  return v as string[];
}
