/**
 * Reading LoRA adapters into one shape, whatever their format:
 *
 * - a PEFT folder: `adapter_config.json` + `adapter_model.safetensors`, keys
 *   `base_model.model.<module>.lora_A.weight` / `lora_B.weight`
 *   (`lora_embedding_A` / `lora_embedding_B` for embeddings), optional
 *   `lora_B.bias` and `lora_magnitude_vector` (DoRA), and whole tensors of
 *   `modules_to_save` modules;
 * - a bare safetensors file with PEFT keys (with or without the
 *   `base_model.model.` prefix): its config comes from `__metadata__` when it
 *   carries one, else from --rank/--alpha;
 * - the kohya / A1111 format: `lora_unet_<module_with_underscores>.lora_down.weight`,
 *   `.lora_up.weight` and a scalar `.alpha` (scale = alpha / rank), and the
 *   LyCORIS algorithms in the same naming (LoCon with `lora_mid`, LoHa, LoKr,
 *   full `diff`; see lycoris.ts), with DoRA as `.dora_scale`.
 *
 * DoRA comes in two conventions that must not be mixed up: PEFT's
 * `lora_magnitude_vector` holds one value per output feature; LyCORIS's
 * `dora_scale` is [out, 1, …] (wd_on_out) or [1, in, …] (the norm taken per
 * input feature). The shape says which; a `dora_scale` whose shape does not
 * (one axis), or a file holding both conventions, is refused.
 *
 * Pickled `adapter_model.bin` files are refused, never unpickled: loading a
 * pickle runs arbitrary code.
 *
 * Every key must be understood: a key we cannot place is an error naming it,
 * because skipping it silently would merge a different adapter than the user's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, ModelFuseError } from '../errors';
import type { Phrase } from '../remedy';
import { SafetensorsFile } from '../safetensors/safetensors';
import { defaultLoraConfig, moduleScale, parseLoraConfig, type LoraConfig } from './adapterConfig';
import { ALGORITHM_LABEL, describeLycoris, LYCORIS_PARTS, lycorisDelta, type LycorisShape } from './lycoris';
import type { TensorRef } from './tensorRef';
export type { TensorRef } from './tensorRef';

export type AdapterFormat = 'peft' | 'peft-safetensors' | 'kohya';

/** One adapted module of one adapter. */
export interface AdapterModule {
  /** Module path as the adapter names it (PEFT: dotted, without `base_model.model.`; kohya: underscored, without `lora_unet_`). */
  module: string;
  /** kohya names replace every `.` by `_`: matching must normalise both sides. */
  underscored: boolean;
  /** `lora`: W += scale·B·A (or the DoRA form); `replace`: a modules_to_save tensor replaces the base tensor. */
  kind: 'lora' | 'replace';
  /** lora_embedding_A/B: ΔW = (B·A)ᵀ. */
  embedding: boolean;
  A?: TensorRef;
  B?: TensorRef;
  /** lora_B.bias (lora_bias=True): added, times the scale, to the base bias. */
  bias?: TensorRef;
  /** DoRA magnitude (one value per output row/channel). */
  magnitude?: TensorRef;
  /** LyCORIS/kohya DoRA: `dora_scale` over the output axis ([out, 1, …]) or the input axis ([1, in, …]). */
  doraScale?: DoraScale;
  /** What makes ΔW: 'LoRA', 'LoCon (Tucker, lora_mid)', 'LoHa', 'LoKr', 'full diff'. */
  algorithm: string;
  /** ΔW in PyTorch layout ([out, in], [out, in, k…], embedding [num, dim]). */
  deltaShape: number[];
  /** A LyCORIS module (not plain LoRA): its ΔW, unscaled, float64, in `deltaShape`'s layout. */
  lycoris?: { shape: LycorisShape; parts: Record<string, TensorRef>; delta(): Float64Array };
  /** For `replace`: parameter name → tensor (e.g. weight, bias). */
  replacements?: Record<string, TensorRef>;
  rank: number;
  alpha: number;
  /** PEFT's scale (alpha/r or alpha/√r), before the user's adapter weight and --scale. */
  scale: number;
  /** Why this scale (which config field or pattern). */
  scaleEvidence: Phrase;
  /** The adapter keys that make up this module. */
  keys: string[];
}

export interface DoraScale {
  ref: TensorRef;
  axis: 'out' | 'in';
  /** torch.finfo(dtype).eps of the dora_scale's dtype: LyCORIS adds it to the norm. */
  eps: number;
}

/** Which DoRA convention a module uses, in words (for `lora plan`). */
export function doraConvention(m: AdapterModule): string | null {
  if (m.magnitude) return 'PEFT lora_magnitude_vector: one magnitude per output feature, W\' = m·V/‖V‖ per output row';
  if (m.doraScale) {
    return m.doraScale.axis === 'out'
      ? `LyCORIS dora_scale [${m.doraScale.ref.shape.join(', ')}]: per output feature (wd_on_out), W' = V·s/(‖V‖+eps) per output row`
      : `LyCORIS dora_scale [${m.doraScale.ref.shape.join(', ')}]: per input feature, W' = V·s/(‖V‖+eps) per input column`;
  }
  return null;
}

export interface LoadedAdapter {
  /** The path as the user gave it (without `=weight`). */
  spec: string;
  /** The safetensors file holding the weights. */
  weightsPath: string;
  format: AdapterFormat;
  /** The user's weight (`--adapter A=0.7`), 1 by default. */
  weight: number;
  config: LoraConfig;
  fanInFanOut: boolean;
  modules: AdapterModule[];
  file: SafetensorsFile;
  /** Reads one adapter tensor as float32 (adapter tensors are small). */
  read(ref: TensorRef): Float32Array;
  close(): void;
}

export interface AdapterSpec {
  path: string;
  weight: number;
}

/** `DIR`, `DIR=0.7`: the part after the last `=` is a weight only when it is a number (paths may contain `=`). */
export function parseAdapterSpec(arg: string): AdapterSpec {
  const eq = arg.lastIndexOf('=');
  if (eq > 0) {
    const w = arg.slice(eq + 1);
    if (w.trim() !== '' && Number.isFinite(Number(w))) return { path: arg.slice(0, eq), weight: Number(w) };
  }
  return { path: arg, weight: 1 };
}

export interface AdapterOptions {
  /** --rank / --alpha, for adapters that carry no config. */
  rank?: number;
  alpha?: number;
}

const PICKLE_EXT = /\.(bin|pt|pth|ckpt|pkl)$/i;
const PICKLE_MESSAGE =
  'is a pickle file; ModelFuse never unpickles (loading a pickle can run arbitrary code). Save the adapter as safetensors (PEFT: save_pretrained(..., safe_serialization=True))';

export function loadAdapter(spec: AdapterSpec, options: AdapterOptions = {}): LoadedAdapter {
  const p = spec.path;
  if (!fs.existsSync(p)) throw fileError(p, 'adapter not found');
  if (fs.statSync(p).isDirectory()) return loadPeftFolder(spec, options);
  if (PICKLE_EXT.test(p)) throw fileError(p, PICKLE_MESSAGE);
  if (!p.toLowerCase().endsWith('.safetensors')) throw fileError(p, 'not an adapter (expected a PEFT folder or a .safetensors file)');
  const file = SafetensorsFile.open(p);
  try {
    const names = file.names();
    const peftDora = names.find((n) => /\.lora_magnitude_vector(\.|$)/.test(n));
    const kohyaDora = names.find((n) => n.endsWith('.dora_scale'));
    if (peftDora && kohyaDora) {
      throw fileError(p, `mixes the two DoRA conventions: PEFT's '${peftDora}' (per output feature) and LyCORIS's '${kohyaDora}' (its own shape and axis); ModelFuse will not guess which one each module means`);
    }
    if (names.some((n) => KOHYA_PREFIXES.some((pre) => n.startsWith(pre)) && KOHYA_KEY.test(n))) {
      return buildAdapter(spec, file, 'kohya', kohyaConfig(file, options), options);
    }
    return buildAdapter(spec, file, 'peft-safetensors', bareConfig(file, options), options);
  } catch (err) {
    file.close();
    throw err;
  }
}

function loadPeftFolder(spec: AdapterSpec, options: AdapterOptions): LoadedAdapter {
  const dir = spec.path;
  const configPath = path.join(dir, 'adapter_config.json');
  const weightsPath = path.join(dir, 'adapter_model.safetensors');
  if (!fs.existsSync(configPath)) {
    const subs = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'adapter_config.json')));
    if (subs.length) {
      throw fileError(dir, [`holds several adapters (${subs.join(', ')})`, { term: 'remedy', remedy: { kind: 'one-adapter-each', example: path.join(dir, subs[0]) } }], undefined, undefined, { code: 'lora/adapter-dir-has-several', data: { adapters: subs } });
    }
    throw fileError(dir, 'not a PEFT adapter folder (no adapter_config.json)');
  }
  if (!fs.existsSync(weightsPath)) {
    const bin = path.join(dir, 'adapter_model.bin');
    if (fs.existsSync(bin)) throw fileError(bin, PICKLE_MESSAGE);
    throw fileError(dir, 'PEFT adapter folder has no adapter_model.safetensors');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw fileError(configPath, `not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const config = parseLoraConfig(raw, configPath);
  const file = SafetensorsFile.open(weightsPath);
  try {
    return buildAdapter(spec, file, 'peft', config, options);
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Config of a bare PEFT safetensors file: a JSON config in `__metadata__` (diffusers' `lora_adapter_metadata`, …) or the rank and alpha the user gave. */
function bareConfig(file: SafetensorsFile, options: AdapterOptions): LoraConfig {
  for (const key of ['lora_adapter_metadata', 'adapter_config', 'lora_config', 'peft_config']) {
    const text = file.metadata[key];
    if (text === undefined) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw fileError(file.path, `__metadata__.${key} is not valid JSON`);
    }
    return parseLoraConfig(raw, `${file.path} (__metadata__.${key})`);
  }
  if (options.alpha === undefined) {
    throw fileError(file.path, ['carries no adapter config in __metadata__', { term: 'remedy', remedy: { kind: 'adapter-alpha' } }], undefined, undefined, { code: 'lora/no-adapter-config' });
  }
  return { ...defaultLoraConfig(options.rank ?? 1, options.alpha, file.path), fromOptions: true };
}

function kohyaConfig(file: SafetensorsFile, options: AdapterOptions): LoraConfig {
  return defaultLoraConfig(options.rank ?? 1, options.alpha ?? 1, `${file.path} (kohya)`);
}

const PEFT_PREFIX = 'base_model.model.';
/** `<module>.<part>` of the kohya/LyCORIS naming. */
const KOHYA_KEY = new RegExp(`^(.*)\\.(lora_down\\.weight|lora_up\\.weight|alpha|dora_scale|${LYCORIS_PARTS.map((p) => p.replace('.', '\\.')).join('|')})$`);
const KOHYA_PREFIXES = ['lora_unet_', 'lora_te1_', 'lora_te2_', 'lora_te_', 'lora_transformer_'];

interface PendingModule {
  module: string;
  underscored: boolean;
  embedding: boolean;
  kind: 'lora' | 'replace';
  A?: TensorRef;
  B?: TensorRef;
  bias?: TensorRef;
  magnitude?: TensorRef;
  alphaKey?: string;
  /** kohya/LyCORIS tensors by their part name (lora_down.weight, hada_w1_a, …). */
  parts: Record<string, TensorRef>;
  replacements: Record<string, TensorRef>;
  keys: string[];
}

function buildAdapter(spec: AdapterSpec, file: SafetensorsFile, format: AdapterFormat, config: LoraConfig, options: AdapterOptions): LoadedAdapter {
  const byModule = new Map<string, PendingModule>();
  const unknown: string[] = [];
  const get = (module: string, underscored: boolean): PendingModule => {
    let m = byModule.get(module);
    if (!m) byModule.set(module, (m = { module, underscored, embedding: false, kind: 'lora', parts: {}, replacements: {}, keys: [] }));
    return m;
  };
  for (const key of file.names()) {
    const ref: TensorRef = { key, shape: file.get(key).shape };
    if (format === 'kohya') {
      const prefix = KOHYA_PREFIXES.find((pre) => key.startsWith(pre));
      const m = KOHYA_KEY.exec(key);
      if (!prefix || !m) {
        unknown.push(key);
        continue;
      }
      const mod = get(m[1].slice(prefix.length), true);
      mod.keys.push(key);
      if (m[2] === 'alpha') mod.alphaKey = key;
      else mod.parts[m[2]] = ref;
      continue;
    }
    const name = key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length) : key;
    const m = /^(.*)\.(lora_A\.weight|lora_B\.weight|lora_B\.bias|lora_embedding_A|lora_embedding_B|lora_embedding_A\.weight|lora_embedding_B\.weight|lora_magnitude_vector|lora_magnitude_vector\.weight)$/.exec(name);
    if (m) {
      const mod = get(m[1], false);
      mod.keys.push(key);
      const part = m[2].replace(/\.weight$/, '');
      if (part === 'lora_A') mod.A = ref;
      else if (part === 'lora_B') mod.B = ref;
      else if (part === 'lora_B.bias') mod.bias = ref;
      else if (part === 'lora_embedding_A') (mod.A = ref), (mod.embedding = true);
      else if (part === 'lora_embedding_B') (mod.B = ref), (mod.embedding = true);
      else mod.magnitude = ref;
      continue;
    }
    // modules_to_save: PEFT saves the trained copy under the module's own name (`<module>.weight`),
    // older files under `<module>.modules_to_save.<adapter>.weight`.
    const saved = /^(.*?)(?:\.modules_to_save(?:\.[^.]+)?)?\.([^.]+)$/.exec(name);
    if (saved && key.startsWith(PEFT_PREFIX) && isModuleToSave(config, saved[1])) {
      const mod = get(saved[1], false);
      mod.kind = 'replace';
      mod.keys.push(key);
      mod.replacements[saved[2]] = ref;
      continue;
    }
    unknown.push(key);
  }
  if (unknown.length) {
    const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : '';
    throw fileError(file.path, `keys that are not LoRA weights of the ${format} format: ${unknown.slice(0, 5).join(', ')}${more}`);
  }
  const modules: AdapterModule[] = [];
  for (const p of byModule.values()) modules.push(finishModule(p, file, format, config, options));
  if (modules.length === 0) throw fileError(file.path, 'adapter has no LoRA weights');
  checkDoraConventions(file.path, modules);
  const adapter: LoadedAdapter = {
    spec: spec.path,
    weightsPath: file.path,
    format,
    weight: spec.weight,
    config,
    fanInFanOut: config.fanInFanOut,
    modules,
    file,
    read: (ref) => Float32Array.from(file.readFloat64(ref.key)),
    close: () => file.close(),
  };
  return adapter;
}

function isModuleToSave(config: LoraConfig, module: string): boolean {
  return config.modulesToSave.some((m) => module === m || module.endsWith(`.${m}`));
}

/** Adapter weights ModelFuse multiplies: floats. Integers and booleans would be merged as numbers they do not mean; F8 needs scales it does not have. */
const MERGEABLE_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** What a key is to its module, for messages: `….lora_A.weight` → lora_A, `….lora_B.bias` → lora_B.bias, `….alpha` → alpha. */
function tensorRole(key: string): string {
  const parts = key.replace(/\.weight$/, '').split('.');
  return parts[parts.length - 1] === 'bias' && parts.length > 1 ? parts.slice(-2).join('.') : parts[parts.length - 1];
}

function finishModule(p: PendingModule, file: SafetensorsFile, format: AdapterFormat, config: LoraConfig, options: AdapterOptions): AdapterModule {
  const where = `${file.path}: module '${p.module}'`;
  if (p.kind === 'replace') {
    if (p.A || p.B) throw new ModelFuseError(`${where} is both in modules_to_save and LoRA-adapted`);
    return { module: p.module, underscored: false, kind: 'replace', embedding: false, replacements: p.replacements, rank: 0, alpha: 0, scale: 1, scaleEvidence: 'modules_to_save: replaces the base tensor', keys: p.keys, algorithm: 'modules_to_save', deltaShape: [] };
  }
  // Integer, boolean and 8-bit float tensors are not LoRA weights: merging them as numbers gives garbage.
  for (const key of p.keys) {
    const dtype = file.entries.get(key)?.dtype;
    if (dtype && !MERGEABLE_DTYPES.has(dtype)) throw new ModelFuseError(`${where}: cannot merge a ${dtype} ${tensorRole(key)} ('${key}'); LoRA weights must be F32, F16, BF16 or F64`);
  }
  if (format === 'kohya') return finishKohyaModule(p, file, options);
  const tensorRank = checkLowRankPair(where, p.A, p.B, 'lora_A', 'lora_B');
  if (p.embedding && p.magnitude) throw new ModelFuseError(`${where}: DoRA on an embedding is not supported by ModelFuse`);
  if (p.magnitude && !config.useDora) throw new ModelFuseError(`${where} has a lora_magnitude_vector but the config does not set use_dora`);
  if (!p.magnitude && config.useDora) throw new ModelFuseError(`${where}: the config sets use_dora but the module has no lora_magnitude_vector`);
  if (p.bias && !config.loraBias) throw new ModelFuseError(`${where} has lora_B.bias but the config does not set lora_bias`);
  const s = moduleScale(config, p.module);
  // Bare files without metadata: the rank is the tensors' own (checked against --rank when given).
  const rank = config.fromOptions && options.rank === undefined ? tensorRank : s.rank;
  if (rank !== tensorRank) {
    throw new ModelFuseError(`${where}: the config says rank ${rank}${s.rankFrom ? ` (rank_pattern '${s.rankFrom}')` : ''} but lora_A has ${tensorRank} rows`);
  }
  const scale = config.useRslora ? s.alpha / Math.sqrt(rank) : s.alpha / rank;
  const evidence = `${config.useRslora ? 'use_rslora: alpha/√r' : 'alpha/r'} = ${s.alpha}${s.alphaFrom ? ` (alpha_pattern '${s.alphaFrom}')` : ''} / ${config.useRslora ? `√${rank}` : rank}${s.rankFrom ? ` (rank_pattern '${s.rankFrom}')` : ''}`;
  const deltaShape = p.embedding ? [p.A!.shape[1], p.B!.shape[0]] : [p.B!.shape[0], p.A!.shape[1], ...p.A!.shape.slice(2)];
  return { module: p.module, underscored: false, kind: 'lora', embedding: p.embedding, A: p.A, B: p.B, bias: p.bias, magnitude: p.magnitude, rank, alpha: s.alpha, scale, scaleEvidence: evidence, keys: p.keys, algorithm: 'LoRA', deltaShape };
}

/** The rank a down/up pair shares, or an error naming both shapes. */
function checkLowRankPair(where: string, A: TensorRef | undefined, B: TensorRef | undefined, aName: string, bName: string): number {
  if (!A || !B) throw new ModelFuseError(`${where} has ${A ? `${aName} but no ${bName}` : B ? `${bName} but no ${aName}` : `neither ${aName} nor ${bName}`}`);
  if (A.shape.length < 2 || B.shape.length < 2 || A.shape[0] !== B.shape[1]) {
    throw new ModelFuseError(`${where}: ${aName} [${A.shape.join(', ')}] and ${bName} [${B.shape.join(', ')}] do not share a rank`);
  }
  return A.shape[0];
}

/**
 * A kohya/LyCORIS module: plain LoRA (lora_down/lora_up) keeps the low-rank
 * product; the LyCORIS algorithms give a dense ΔW (lycoris.ts). The scale is
 * alpha / rank with kohya's rules (no alpha, or alpha 0: alpha = rank), or 1
 * where LyCORIS has no rank (full diff, LoKr with both factors full).
 */
function finishKohyaModule(p: PendingModule, file: SafetensorsFile, options: AdapterOptions): AdapterModule {
  const where = `${file.path}: module '${p.module}'`;
  const { 'dora_scale': doraRef, 'lora_down.weight': down, 'lora_up.weight': up, 'diff_b': diffBias, ...rest } = p.parts;
  const lycoris = describeLycoris(where, { ...rest, ...(down ? { 'lora_down.weight': down } : {}), ...(up ? { 'lora_up.weight': up } : {}), ...(diffBias ? { diff_b: diffBias } : {}) });
  const rank = lycoris ? lycoris.rank : checkLowRankPair(where, down, up, 'lora_down', 'lora_up');
  let alpha = rank ?? 1;
  let evidence: Phrase;
  if (rank === null) {
    evidence = `${lycoris!.algorithm === 'full' ? 'full diff' : 'LoKr with both factors full'}: scale 1${p.alphaKey ? ` (${p.alphaKey} is not used)` : ''}`;
  } else {
    alpha = options.alpha ?? rank;
    evidence = options.alpha !== undefined ? [{ term: 'option', option: 'alpha', value: String(alpha) }, ` / rank ${rank}`] : `no .alpha: alpha = rank ${rank}`;
    if (p.alphaKey) {
      const v = file.readFloat64(p.alphaKey);
      if (v.length !== 1 || !Number.isFinite(v[0])) throw new ModelFuseError(`${file.path}: '${p.alphaKey}' is not a finite scalar`);
      alpha = v[0] === 0 ? rank : v[0]; // kohya's and LyCORIS's loaders treat alpha 0 as "= rank"
      evidence = `${p.alphaKey} = ${v[0]} / rank ${rank}`;
    }
  }
  const scale = rank === null ? 1 : alpha / rank;
  const deltaShape = lycoris ? lycoris.deltaShape : [up!.shape[0], down!.shape[1], ...down!.shape.slice(2)];
  const module: AdapterModule = {
    module: p.module, underscored: true, kind: 'lora', embedding: false, rank: rank ?? 0, alpha, scale, scaleEvidence: evidence, keys: p.keys,
    algorithm: ALGORITHM_LABEL[lycoris?.algorithm ?? 'lora'], deltaShape, bias: diffBias,
  };
  if (lycoris) {
    const parts = { ...p.parts };
    module.lycoris = { shape: lycoris, parts, delta: () => lycorisDelta(lycoris, parts, (ref) => file.readFloat64(ref.key)) };
  } else {
    module.A = down;
    module.B = up;
  }
  if (doraRef) module.doraScale = doraScaleOf(where, doraRef, deltaShape, file.get(doraRef.key).dtype);
  return module;
}

const DTYPE_EPS: Record<string, number> = { F32: 2 ** -23, F16: 2 ** -10, BF16: 2 ** -7, F64: 2 ** -52 };

/** The axis a `dora_scale` normalises, from its shape: [out, 1, …] or [1, in, …]; anything else says neither. */
function doraScaleOf(where: string, ref: TensorRef, deltaShape: number[], dtype: string): DoraScale {
  const s = ref.shape;
  const eps = DTYPE_EPS[dtype];
  if (eps === undefined) throw new ModelFuseError(`${where}: dora_scale is ${dtype}, not a float tensor`);
  const onesAfter = (i: number): boolean => s.slice(i).every((d) => d === 1);
  const out = s.length >= 2 && s[0] === deltaShape[0] && onesAfter(1);
  const inAxis = s.length >= 2 && s[0] === 1 && s[1] > 1 && onesAfter(2);
  if (out && !inAxis && (s[0] > 1 || deltaShape[0] === 1)) return { ref, axis: 'out', eps };
  if (inAxis && !out) return { ref, axis: 'in', eps };
  throw new ModelFuseError(
    `${where}: dora_scale has shape [${s.join(', ')}], which does not say its axis (LyCORIS writes [out, 1, …] for a norm per output feature, [1, in, …] for one per input feature; ΔW here is [${deltaShape.join(', ')}]); ModelFuse will not guess`,
  );
}

/** One file, one DoRA convention: modules normalising different axes mean the file was assembled from different tools. */
function checkDoraConventions(file: string, modules: readonly AdapterModule[]): void {
  const byAxis = (axis: 'out' | 'in'): AdapterModule | undefined => modules.find((m) => m.doraScale?.axis === axis);
  const [o, i] = [byAxis('out'), byAxis('in')];
  if (o && i) {
    throw fileError(file, `mixes both dora_scale conventions: '${o.module}' [${o.doraScale!.ref.shape.join(', ')}] normalises per output feature and '${i.module}' [${i.doraScale!.ref.shape.join(', ')}] per input feature`);
  }
}
