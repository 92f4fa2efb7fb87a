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
 *   `.lora_up.weight` and a scalar `.alpha` (scale = alpha / rank).
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
import { SafetensorsFile } from '../safetensors/safetensors';
import { defaultLoraConfig, moduleScale, parseLoraConfig, type LoraConfig } from './adapterConfig';

export type AdapterFormat = 'peft' | 'peft-safetensors' | 'kohya';

export interface TensorRef {
  key: string;
  shape: number[];
}

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
  /** For `replace`: parameter name → tensor (e.g. weight, bias). */
  replacements?: Record<string, TensorRef>;
  rank: number;
  alpha: number;
  /** PEFT's scale (alpha/r or alpha/√r), before the user's adapter weight and --scale. */
  scale: number;
  /** Why this scale (which config field or pattern). */
  scaleEvidence: string;
  /** The adapter keys that make up this module. */
  keys: string[];
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
    if (names.some((n) => n.includes('.lora_down.') || n.endsWith('.alpha'))) {
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
      throw fileError(dir, `holds several adapters (${subs.join(', ')}); pass each one, e.g. --adapter ${path.join(dir, subs[0])}=1`);
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

/** Config of a bare PEFT safetensors file: a JSON config in `__metadata__` (diffusers' `lora_adapter_metadata`, …) or --rank/--alpha. */
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
    throw fileError(file.path, 'carries no adapter config in __metadata__; pass --alpha (and --rank to check the rank) so the scale alpha/r is known');
  }
  return defaultLoraConfig(options.rank ?? 1, options.alpha, `${file.path} (--rank/--alpha)`);
}

function kohyaConfig(file: SafetensorsFile, options: AdapterOptions): LoraConfig {
  return defaultLoraConfig(options.rank ?? 1, options.alpha ?? 1, `${file.path} (kohya)`);
}

const PEFT_PREFIX = 'base_model.model.';
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
  replacements: Record<string, TensorRef>;
  keys: string[];
}

function buildAdapter(spec: AdapterSpec, file: SafetensorsFile, format: AdapterFormat, config: LoraConfig, options: AdapterOptions): LoadedAdapter {
  const byModule = new Map<string, PendingModule>();
  const unknown: string[] = [];
  const get = (module: string, underscored: boolean): PendingModule => {
    let m = byModule.get(module);
    if (!m) byModule.set(module, (m = { module, underscored, embedding: false, kind: 'lora', replacements: {}, keys: [] }));
    return m;
  };
  for (const key of file.names()) {
    const ref: TensorRef = { key, shape: file.get(key).shape };
    if (format === 'kohya') {
      const prefix = KOHYA_PREFIXES.find((pre) => key.startsWith(pre));
      const m = /^(.*)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(key);
      if (!prefix || !m) {
        unknown.push(key);
        continue;
      }
      const mod = get(m[1].slice(prefix.length), true);
      mod.keys.push(key);
      if (m[2] === 'lora_down.weight') mod.A = ref;
      else if (m[2] === 'lora_up.weight') mod.B = ref;
      else mod.alphaKey = key;
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

function finishModule(p: PendingModule, file: SafetensorsFile, format: AdapterFormat, config: LoraConfig, options: AdapterOptions): AdapterModule {
  const where = `${file.path}: module '${p.module}'`;
  if (p.kind === 'replace') {
    if (p.A || p.B) throw new ModelFuseError(`${where} is both in modules_to_save and LoRA-adapted`);
    return { module: p.module, underscored: false, kind: 'replace', embedding: false, replacements: p.replacements, rank: 0, alpha: 0, scale: 1, scaleEvidence: 'modules_to_save: replaces the base tensor', keys: p.keys };
  }
  if (!p.A || !p.B) throw new ModelFuseError(`${where} has ${p.A ? 'lora_A but no lora_B' : 'lora_B but no lora_A'} (${p.keys.join(', ')})`);
  const tensorRank = p.A.shape[0]; // lora_A (and lora_embedding_A) is [r, …]
  const bRank = p.B.shape[1];
  if (p.A.shape.length < 2 || p.B.shape.length < 2 || tensorRank !== bRank) {
    throw new ModelFuseError(`${where}: lora_A [${p.A.shape.join(', ')}] and lora_B [${p.B.shape.join(', ')}] do not share a rank`);
  }
  if (format === 'kohya') {
    let alpha = options.alpha ?? tensorRank; // kohya stores alpha per module; none means alpha = rank (scale 1)
    let evidence = options.alpha !== undefined ? `--alpha ${alpha} / rank ${tensorRank}` : `no .alpha: alpha = rank ${tensorRank}`;
    if (p.alphaKey) {
      const v = file.readFloat64(p.alphaKey);
      if (v.length !== 1 || !Number.isFinite(v[0])) throw new ModelFuseError(`${file.path}: '${p.alphaKey}' is not a finite scalar`);
      alpha = v[0] === 0 ? tensorRank : v[0]; // kohya's own loader treats alpha 0 as "= rank"
      evidence = `${p.alphaKey} = ${v[0]} / rank ${tensorRank}`;
    }
    return { module: p.module, underscored: true, kind: 'lora', embedding: false, A: p.A, B: p.B, rank: tensorRank, alpha, scale: alpha / tensorRank, scaleEvidence: evidence, keys: p.keys };
  }
  if (p.embedding && p.magnitude) throw new ModelFuseError(`${where}: DoRA on an embedding is not supported by ModelFuse`);
  if (p.magnitude && !config.useDora) throw new ModelFuseError(`${where} has a lora_magnitude_vector but the config does not set use_dora`);
  if (!p.magnitude && config.useDora) throw new ModelFuseError(`${where}: the config sets use_dora but the module has no lora_magnitude_vector`);
  if (p.bias && !config.loraBias) throw new ModelFuseError(`${where} has lora_B.bias but the config does not set lora_bias`);
  const s = moduleScale(config, p.module);
  // Bare files without metadata: the rank is the tensors' own (checked against --rank when given).
  const fromFlags = config.source.endsWith('(--rank/--alpha)');
  const rank = fromFlags && options.rank === undefined ? tensorRank : s.rank;
  if (rank !== tensorRank) {
    throw new ModelFuseError(`${where}: the config says rank ${rank}${s.rankFrom ? ` (rank_pattern '${s.rankFrom}')` : ''} but lora_A has ${tensorRank} rows`);
  }
  const scale = config.useRslora ? s.alpha / Math.sqrt(rank) : s.alpha / rank;
  const evidence = `${config.useRslora ? 'use_rslora: alpha/√r' : 'alpha/r'} = ${s.alpha}${s.alphaFrom ? ` (alpha_pattern '${s.alphaFrom}')` : ''} / ${config.useRslora ? `√${rank}` : rank}${s.rankFrom ? ` (rank_pattern '${s.rankFrom}')` : ''}`;
  return { module: p.module, underscored: false, kind: 'lora', embedding: p.embedding, A: p.A, B: p.B, bias: p.bias, magnitude: p.magnitude, rank, alpha: s.alpha, scale, scaleEvidence: evidence, keys: p.keys };
}
