/**
 * The merge plan: which base tensor every adapted module changes, with what
 * scale and why (the evidence), before a single byte is written. `lora plan`
 * prints it; `lora` executes it. A plan with unmatched or ambiguous modules is
 * an error listing them (unless --allow-unmatched), so a merge never silently
 * does less than the adapter says.
 *
 * `--map mapping.json` overrides matching: `{ "<module or adapter key>": "<base tensor>" | null }`
 * (null = leave that module out on purpose; it is still listed as unmatched).
 *
 * Shared ONNX initializers (one tensor read by nodes of different modules:
 * tied embedding/lm_head, or the TorchScript exporter deduplicating equal
 * weights) are never changed silently: `shared: 'error'` (default) refuses and
 * lists the readers; `'untie'` gives the adapted node its own merged copy and
 * leaves the other readers on the base weights; `'all'` merges into the shared
 * tensor, every reader sees the change once — what PyTorch does for tied
 * parameters. One adapter never adds two deltas to one tensor unless 'all'
 * says the tensor is deliberately shared.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, ModelFuseError } from '../errors';
import { joinPhrase, type Phrase } from '../remedy';
import { doraConvention, loadAdapter, type AdapterOptions, type AdapterSpec, type LoadedAdapter } from './adapterFormats';
import { baseKindOf, initializerBehind, openPlanBase, type PlanBase } from './planBase';
import { deltaFits, deltaKindOf, fmtShape, sameShape, type DeltaKind, type ModuleRequest, type TargetResolution } from './targetTypes';

export { baseKindOf, initializerBehind, planDtype } from './planBase';

export type SharedPolicy = 'error' | 'untie' | 'all';

export interface PlanOptions extends AdapterOptions {
  /** Global factor on every delta (diffusers' lora_scale). */
  scale?: number;
  /** Path of a mapping JSON overriding matches. */
  mapPath?: string;
  shared?: SharedPolicy;
  /** Unmerge: remove the adapters from a model they were merged into (every scale negated). */
  subtract?: boolean;
}

export interface PlanPair {
  adapterIndex: number;
  /** The adapter as given on the command line. */
  adapter: string;
  module: string;
  /** The adapter keys of this module. */
  keys: string[];
  kind: 'lora' | 'replace';
  deltaKind: DeltaKind;
  /** Base tensor read (ONNX: the initializer behind the node's input). */
  source: string;
  /** Tensor written (differs from `source` when a shared initializer is untied). */
  target: string;
  targetShape: number[];
  targetDtype: string;
  transposed: boolean;
  bias?: string;
  /** For modules_to_save: parameter → base tensor. */
  replacements?: Record<string, string>;
  rank: number;
  alpha: number;
  /** PEFT's alpha/r (or alpha/√r). */
  peftScale: number;
  /** User weight of this adapter. */
  weight: number;
  globalScale: number;
  /** weight × globalScale × peftScale: the factor in front of B·A. */
  scale: number;
  scaleEvidence: Phrase;
  dora: boolean;
  /** Which DoRA convention, in words (PEFT's per-output magnitude or LyCORIS's dora_scale axis), or null. */
  doraConvention: string | null;
  /** The adapter algorithm of the module: LoRA, LoCon (Tucker), LoHa, LoKr, full diff. */
  algorithm: string;
  evidence: Phrase[];
  /** ONNX: the node whose weight this is, and the nodes that share it. */
  node?: string;
  sharedWith?: string[];
  /** ONNX untie: which node input to rewire to the new tensor. */
  untie?: { node: string; from: string };
}

export interface UnmatchedModule {
  adapter: string;
  module: string;
  keys: string[];
  reason: Phrase;
  candidates?: string[];
}

export interface LoraPlan {
  basePath: string;
  baseKind: 'onnx' | 'safetensors';
  adapters: LoadedAdapter[];
  pairs: PlanPair[];
  unmatched: UnmatchedModule[];
  /** Problems that make the plan unusable even when unmatched modules are allowed (shape mismatches, double deltas). */
  errors: Phrase[];
  /** The plan removes the adapters (unmerge) instead of adding them. */
  subtract: boolean;
  /** The open base (ONNX model or safetensors store) the merge reads and the writer copies. */
  base: PlanBase;
  /** The adapters and options it was built from, so that `planValue` can send it elsewhere as is. */
  specs: AdapterSpec[];
  options: PlanOptions;
  close(): void;
}

/**
 * A plan as data: what `buildPlan` decided (every pairing with its scale and evidence), sent to
 * another process (the worker) and executed there by `reopenPlan` without matching again — so the
 * merge does exactly what was shown and confirmed. The files' sizes and times are part of it: a
 * plan whose files changed since is refused, never executed on other data.
 */
export interface PlanValue {
  basePath: string;
  specs: AdapterSpec[];
  options: PlanOptions;
  pairs: PlanPair[];
  unmatched: UnmatchedModule[];
  errors: Phrase[];
  files: { path: string; size: number; mtimeMs: number }[];
}

/** Loads base and adapters and matches them. The caller closes the plan. */
export function buildPlan(basePath: string, specs: readonly AdapterSpec[], options: PlanOptions = {}): LoraPlan {
  const plan = openPlan(basePath, specs, options);
  try {
    fillPlan(plan, options);
    return plan;
  } catch (err) {
    plan.close();
    throw err;
  }
}

/** The files a plan reads: the base (and its shards), every adapter's weights and config. */
function planFiles(plan: LoraPlan): string[] {
  const base = plan.base.kind === 'safetensors' ? [plan.basePath, ...plan.base.store.shards.map((s) => s.path)] : [plan.basePath];
  const adapters = plan.adapters.flatMap((a) => [a.weightsPath, ...(fs.existsSync(a.config.source) ? [a.config.source] : [])]);
  return [...new Set([...base, ...adapters])];
}

function stamp(file: string): { path: string; size: number; mtimeMs: number } {
  const st = fs.statSync(file);
  return { path: file, size: st.size, mtimeMs: st.mtimeMs };
}

export function planValue(plan: LoraPlan): PlanValue {
  return {
    basePath: plan.basePath, specs: plan.specs, options: plan.options,
    pairs: plan.pairs, unmatched: plan.unmatched, errors: plan.errors,
    files: planFiles(plan).map(stamp),
  };
}

/** Opens the files of a plan made elsewhere and takes its pairings as they are (no matching). The caller closes it. */
export function reopenPlan(value: PlanValue): LoraPlan {
  for (const f of value.files) {
    const now = fs.existsSync(f.path) ? stamp(f.path) : undefined;
    if (!now || now.size !== f.size || now.mtimeMs !== f.mtimeMs) {
      throw fileError(f.path, `${now ? 'changed' : 'was removed'} since the merge was planned; plan it again`);
    }
  }
  const plan = openPlan(value.basePath, value.specs, value.options);
  try {
    for (const p of value.pairs) {
      const adapter = plan.adapters[p.adapterIndex];
      if (!adapter?.modules.some((m) => m.module === p.module)) throw new ModelFuseError(`the plan pairs '${p.module}', which adapter ${adapter?.spec ?? p.adapterIndex} does not have`);
      const reads = p.kind === 'replace' ? Object.values(p.replacements ?? {}) : [p.source];
      for (const t of reads) if (!plan.base.has(t)) throw fileError(value.basePath, `the plan changes '${t}', which is not a tensor of the base`);
    }
    plan.pairs.push(...value.pairs);
    plan.unmatched.push(...value.unmatched);
    plan.errors.push(...value.errors);
    return plan;
  } catch (err) {
    plan.close();
    throw err;
  }
}

/** Loads base and adapters, with no pairing yet. */
function openPlan(basePath: string, specs: readonly AdapterSpec[], options: PlanOptions): LoraPlan {
  if (specs.length === 0) throw new ModelFuseError(['no adapter given', { term: 'remedy', remedy: { kind: 'choose-adapter' } }], { code: 'lora/no-adapter' });
  const baseKind = baseKindOf(basePath);
  const adapters: LoadedAdapter[] = [];
  let base: PlanBase | undefined;
  const close = (): void => {
    for (const a of adapters) a.close();
    base?.close();
  };
  try {
    for (const s of specs) {
      if (!Number.isFinite(s.weight)) throw new ModelFuseError([{ term: 'option', option: 'adapter', value: s.path }, ': weight must be a number'], { code: 'lora/bad-adapter-weight', data: { path: s.path } });
      adapters.push(loadAdapter(s, options));
    }
    base = openPlanBase(basePath);
    return { basePath, baseKind, adapters, pairs: [], unmatched: [], errors: [], subtract: options.subtract ?? false, base, specs: [...specs], options, close };
  } catch (err) {
    close();
    throw err;
  }
}

function fillPlan(plan: LoraPlan, options: PlanOptions): void {
  const requests: ModuleRequest[] = [];
  plan.adapters.forEach((a, adapterIndex) => {
    for (const module of a.modules) {
      requests.push({ id: requests.length, adapterIndex, module, deltaKind: deltaKindOf(module), fanInFanOut: a.fanInFanOut });
    }
  });
  const map = options.mapPath ? readMap(options.mapPath, requests) : new Map<number, string | null>();
  const auto = plan.base.match(requests.filter((r) => !map.has(r.id)));
  for (const [id, target] of map) {
    const req = requests[id];
    if (target === null) auto.set(id, { reason: ['left out by ', { term: 'map-file', file: options.mapPath! }] });
    else auto.set(id, mappedResolution(plan, req, target, options.mapPath!));
  }
  // Unmerging negates the global factor: W'' = W' − s·ΔW for every module.
  const globalScale = (options.scale ?? 1) * (options.subtract ? -1 : 1);
  for (const req of requests) {
    const a = plan.adapters[req.adapterIndex];
    const res = auto.get(req.id) as TargetResolution;
    const m = req.module;
    if (!res.match) {
      plan.unmatched.push({
        adapter: a.spec, module: m.module, keys: m.keys,
        reason: res.reason ?? `ambiguous: ${res.candidates!.length} candidates`,
        candidates: res.candidates?.map((c) => `${c.target}${c.node ? ` (${c.node})` : ''}`),
      });
      continue;
    }
    const t = res.match;
    const dtype = plan.base.dtypeOf(t.target);
    const pair: PlanPair = {
      adapterIndex: req.adapterIndex, adapter: a.spec, module: m.module, keys: m.keys, kind: m.kind, deltaKind: req.deltaKind,
      source: t.target, target: t.target, targetShape: t.shape, targetDtype: dtype, transposed: t.transposed, bias: t.bias,
      replacements: t.replacements, rank: m.rank, alpha: m.alpha, peftScale: m.scale, weight: a.weight, globalScale,
      scale: a.weight * globalScale * m.scale, scaleEvidence: m.scaleEvidence, dora: !!m.magnitude || !!m.doraScale, doraConvention: doraConvention(m),
      algorithm: m.algorithm, evidence: t.evidence,
      node: t.node, sharedWith: t.sharedWith,
    };
    checkShapes(plan, req, pair);
    if (plan.subtract) checkUnmergeable(plan, pair);
    plan.pairs.push(pair);
  }
  applySharedPolicy(plan, options.shared ?? 'error');
  checkDoubleDeltas(plan, options.shared ?? 'error');
}

/** What unmerging cannot undo from the merged weights alone. */
function checkUnmergeable(plan: LoraPlan, pair: PlanPair): void {
  const where = `${pair.adapter} module '${pair.module}'`;
  if (pair.kind === 'replace') plan.errors.push([{ term: 'option', option: 'subtract' }, `: ${where} replaced '${pair.target}' (modules_to_save); the original tensor is not in the adapter, so it cannot be restored`]);
  else if (pair.dora) plan.errors.push([{ term: 'option', option: 'subtract' }, `: ${where} is DoRA; the merge divided by ‖W + ΔW‖, which the merged weight no longer tells, so it cannot be unmerged`]);
}

function checkShapes(plan: LoraPlan, req: ModuleRequest, pair: PlanPair): void {
  const m = req.module;
  const a = plan.adapters[req.adapterIndex];
  if (m.kind === 'replace') {
    for (const [param, target] of Object.entries(pair.replacements ?? {})) {
      const ref = m.replacements![param];
      const shape = plan.base.shapeOf(target);
      if (!sameShape(ref.shape, shape)) {
        plan.errors.push(`shape mismatch: ${a.weightsPath} '${ref.key}' is ${fmtShape(ref.shape)} but base tensor '${target}' is ${fmtShape(shape)}`);
      }
    }
    return;
  }
  const expected = plan.base.expectedDelta(req, pair);
  if (!expected || !deltaFits(m, expected, pair.targetShape)) {
    const hint = expected && expected.length === 2 && sameShape([expected[1], expected[0]], pair.targetShape) ? plan.base.transposedHint : '';
    plan.errors.push(
      `shape mismatch: ${a.weightsPath} module '${m.module}' (${m.A && m.B ? `lora_A ${fmtShape(m.A.shape)}, lora_B ${fmtShape(m.B.shape)}` : m.algorithm}) makes a delta of ${expected ? fmtShape(expected) : 'unknown shape'} but base tensor '${pair.target}' is ${fmtShape(pair.targetShape)}${hint}`,
    );
  }
  if (m.magnitude) {
    const outs = pair.deltaKind === 'conv' || !pair.transposed ? pair.targetShape[0] : pair.targetShape[1];
    const count = m.magnitude.shape.reduce((x, y) => x * y, 1);
    if (count !== outs) plan.errors.push(`shape mismatch: ${a.weightsPath} '${m.magnitude.key}' ${fmtShape(m.magnitude.shape)} has ${count} values but '${pair.target}' has ${outs} output rows`);
  }
  if (m.doraScale) {
    // PyTorch layout [out, in, …]; a transposed 2-D tensor stores [in, out].
    const [outs, ins] = pair.transposed ? [pair.targetShape[1], pair.targetShape[0]] : [pair.targetShape[0], pair.targetShape[1]];
    const want = m.doraScale.axis === 'out' ? outs : ins;
    const count = m.doraScale.ref.shape.reduce((x, y) => x * y, 1);
    if (count !== want) plan.errors.push(`shape mismatch: ${a.weightsPath} '${m.doraScale.ref.key}' ${fmtShape(m.doraScale.ref.shape)} has ${count} values but '${pair.target}' has ${want} ${m.doraScale.axis === 'out' ? 'output' : 'input'} features`);
  }
  if (m.bias) {
    if (!pair.bias) {
      plan.errors.push(`${a.weightsPath} '${m.bias.key}': lora_bias needs a bias in the base layer, and '${pair.target}' has none`);
    } else {
      const shape = plan.base.shapeOf(pair.bias);
      if (!sameShape(m.bias.shape, shape)) plan.errors.push(`shape mismatch: ${a.weightsPath} '${m.bias.key}' is ${fmtShape(m.bias.shape)} but base bias '${pair.bias}' is ${fmtShape(shape)}`);
    }
  }
}

function applySharedPolicy(plan: LoraPlan, policy: SharedPolicy): void {
  // Only an ONNX graph can read one tensor from several nodes; a state dict has one owner per name.
  if (plan.base.kind !== 'onnx') return;
  for (const pair of plan.pairs) {
    if (!pair.sharedWith?.length) continue;
    const init = initializerBehind(plan.base.model, pair.source)!;
    // An Identity output is the module's own parameter name: writing it as an initializer unties by itself.
    if (init.name !== pair.source) continue;
    if (policy === 'all') {
      pair.evidence.push([`shared with ${pair.sharedWith.join(', ')}: merged in place, every reader sees it`, { term: 'shared-policy', policy: 'all' }]);
    } else if (policy === 'untie') {
      pair.target = `${pair.source}.lora_merged.${pair.node!.replace(/[^A-Za-z0-9_.]/g, '_').replace(/^_+/, '')}`;
      pair.untie = { node: pair.node!, from: pair.source };
      pair.evidence.push([`shared with ${pair.sharedWith.join(', ')}: '${pair.node}' gets its own copy '${pair.target}', the others keep the base`, { term: 'shared-policy', policy: 'untie' }]);
    } else {
      plan.errors.push([
        `initializer '${pair.source}' (module '${pair.module}', node '${pair.node}') is also read by ${pair.sharedWith.join(', ')} (tied weights or exporter deduplication)`,
        { term: 'remedy', remedy: { kind: 'shared-initializer', module: pair.module, node: pair.node!, options: ['untie', 'all'] } },
      ]);
    }
  }
}

function checkDoubleDeltas(plan: LoraPlan, policy: SharedPolicy): void {
  const seen = new Map<string, PlanPair>();
  for (const p of plan.pairs) {
    for (const t of p.kind === 'replace' ? Object.values(p.replacements ?? {}) : [p.target]) {
      const k = `${p.adapterIndex}\u0000${t}`;
      const prev = seen.get(k);
      if (prev && !(policy === 'all' && p.kind === 'lora' && prev.kind === 'lora')) {
        plan.errors.push([`tensor '${t}' would be changed twice by ${p.adapter} (modules '${prev.module}' and '${p.module}')`, { term: 'remedy', remedy: { kind: 'pick-one-pairing' } }]);
      }
      seen.set(k, p);
    }
  }
  const replaced = new Map<string, PlanPair>();
  for (const p of plan.pairs) if (p.kind === 'replace') for (const t of Object.values(p.replacements ?? {})) replaced.set(t, p);
  for (const p of plan.pairs) {
    if (p.kind !== 'lora') continue;
    const r = replaced.get(p.target);
    if (r) plan.errors.push(`tensor '${p.target}' is both replaced (modules_to_save of ${r.adapter}) and LoRA-adapted by ${p.adapter}`);
  }
}

/** The mapping JSON: keys are module names or adapter keys, values a base tensor name or null. */
function readMap(mapPath: string, requests: readonly ModuleRequest[]): Map<number, string | null> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(mapPath, 'utf8'));
  } catch (err) {
    throw fileError(mapPath, fs.existsSync(mapPath) ? `not valid JSON (${(err as Error).message.split('\n')[0]})` : 'file not found');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw fileError(mapPath, 'must be a JSON object { "<adapter module or key>": "<base tensor>" | null }');
  const out = new Map<number, string | null>();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value !== null && typeof value !== 'string') throw fileError(mapPath, `'${key}': value must be a base tensor name or null, got ${JSON.stringify(value)}`);
    const hits = requests.filter((r) => r.module.module === key || r.module.keys.includes(key) || `base_model.model.${r.module.module}` === key);
    if (hits.length === 0) throw fileError(mapPath, `'${key}' is not a module or key of any adapter`);
    for (const h of hits) out.set(h.id, value as string | null);
  }
  return out;
}

function mappedResolution(plan: LoraPlan, req: ModuleRequest, target: string, mapPath: string): TargetResolution {
  const evidence: Phrase[] = [[{ term: 'mapped-by-hand', file: path.basename(mapPath) }]];
  if (req.module.kind === 'replace') {
    const params = Object.keys(req.module.replacements ?? {});
    if (params.length !== 1) throw fileError(mapPath, `'${req.module.module}' replaces several tensors (${params.join(', ')}); map modules_to_save by name instead`);
    if (!plan.base.has(target)) throw fileError(mapPath, `'${target}' is not a tensor of the base`);
    return { match: { target, shape: plan.base.shapeOf(target), transposed: false, replacements: { [params[0]]: target }, evidence } };
  }
  return plan.base.resolveMapped(req, target, mapPath);
}

/** Throws the plan's problems as one error (listing them), unless only unmatched modules remain and they are allowed. */
export function assertPlanUsable(plan: LoraPlan, allowUnmatched: boolean): void {
  const lines: Phrase[] = [...plan.errors];
  const unmatched = !allowUnmatched && plan.unmatched.length > 0;
  if (unmatched) {
    for (const u of plan.unmatched) lines.push(joinPhrase(`unmatched: ${u.adapter} module '${u.module}': `, u.reason, u.candidates?.length ? ` [candidates: ${u.candidates.join('; ')}]` : ''));
  }
  if (lines.length) {
    const joined = lines.flatMap((l, i) => (i === 0 ? [l] : [' | ', l]));
    const remedy: Phrase = unmatched ? [{ term: 'remedy', remedy: { kind: 'unmatched-modules' } }] : '';
    throw new ModelFuseError(joinPhrase(`${plan.basePath}: cannot merge: `, ...joined, remedy), {
      code: 'lora/cannot-merge', data: { problems: plan.errors.length, unmatched: unmatched ? plan.unmatched.length : 0 },
    });
  }
  if (plan.pairs.length === 0) throw new ModelFuseError(`${plan.basePath}: nothing to merge (no adapter module matched a base tensor)`);
}

