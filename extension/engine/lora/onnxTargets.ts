/**
 * Matching adapter modules to ONNX initializers, the part where other tools
 * silently do nothing. Exporters rename weights: the TorchScript exporter
 * turns a PyTorch Linear into `MatMul(x, Wᵀ)` with a generated initializer
 * name (`onnx::MatMul_123`) under a node whose scope may have lost its parent
 * path (`/q_proj/MatMul`, `/q_proj_1/MatMul` for the next layer), and it
 * replaces weights that happen to be equal by one initializer plus `Identity`
 * nodes. So every clue is collected for every weight-reading node:
 *
 * 1. names that keep the module path: the initializer (`fc.weight`), the value
 *    the node reads (an `Identity` output keeps the parameter's own name), the
 *    bias of the same layer (`layers.0.attn.q_proj.bias` on the `Add` after the
 *    MatMul, or Gemm/Conv input C), the node's `metadata_props` name scopes
 *    (dynamo exporter), and the node name's scope path when it is complete;
 * 2. call order: nodes whose scope kept only the module's own name (`o_proj`,
 *    `o_proj_1`, …) are paired in order with the model's modules of that name,
 *    but only when the counts agree exactly (the module list is completed from
 *    the names found in step 1, e.g. `layers.0.attn` and `layers.1.attn` are
 *    parents, so `layers.{0,1}.attn.o_proj` are the two `o_proj` modules);
 * 3. shapes: a MatMul weight is stored [in, out] (transposed), Gemm's layout
 *    follows `transB`, Conv is [out, in, k…], Gather (embedding) [num, dim];
 *    a candidate whose shape cannot hold the delta is not a match.
 *
 * Anything left with zero or several candidates is reported, never guessed.
 */
import type { OnnxModel } from '../onnx/model';
import type { INodeProto, ITensorProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensors';
import { attrInt, attrInts } from '../graph/graphIndex';
import { dynamoScope } from '../graph/scopes';
import { fmtShape, naturalCompare, sameShape, underscore, type DeltaKind, type ModuleRequest, type TargetMatch, type TargetResolution } from './targetTypes';

/** One node reading a weight initializer (directly, through Identity, or through Transpose). */
export interface WeightUse {
  node: INodeProto;
  nodeIndex: number;
  nodeName: string;
  kind: DeltaKind;
  /** The initializer holding the numbers. */
  initializer: string;
  /** The value name the node (or its Transpose) reads: the initializer itself or an Identity output. */
  value: string;
  /** Stored layout is the transpose of PyTorch's [out, in]. */
  transposed: boolean;
  shape: number[];
  bias?: string;
  /** Module paths that names around this node spell out, with where each came from. */
  names: { module: string; from: string }[];
  /** The scope path from the node name (`/a/b/MatMul` → `a.b`), and its last part. */
  scopePath?: string;
  scopeLeaf?: string;
}

const GENERATED = /^(onnx::|\/|val_\d|\d)/;

/** Collects every node that reads a weight a LoRA could target. */
export function findWeightUses(model: OnnxModel): WeightUse[] {
  const graph = model.graph;
  const inits = new Map<string, ITensorProto>();
  for (const t of graph.initializer ?? []) inits.set(t.name ?? '', t);
  const producer = new Map<string, INodeProto>();
  const consumers = new Map<string, INodeProto[]>();
  for (const n of graph.node ?? []) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  /** An initializer behind a value, through Identity nodes (exporter deduplication). */
  const storedBehind = (value: string): string | undefined => {
    let v = value;
    for (let hops = 0; hops < 8; hops++) {
      if (inits.has(v)) return v;
      const p = producer.get(v);
      if (!p || p.op_type !== 'Identity' || (p.domain ?? '') !== '') return undefined;
      v = p.input?.[0] ?? '';
    }
    return undefined;
  };
  const biasName = (v: string | undefined): string | undefined => (v && storedBehind(v) ? v : undefined);
  const uses: WeightUse[] = [];
  (graph.node ?? []).forEach((node, nodeIndex) => {
    const op = (node.domain ?? '') === '' ? node.op_type : undefined;
    const ins = node.input ?? [];
    let value: string | undefined;
    let kind: DeltaKind | undefined;
    let transposed = false;
    let bias: string | undefined;
    if (op === 'MatMul' && ins[1]) {
      kind = 'linear';
      value = ins[1];
      transposed = true;
      const p = producer.get(ins[1]);
      if (!storedBehind(ins[1]) && p?.op_type === 'Transpose') {
        const perm = attrInts(p, 'perm');
        if (!perm || (perm.length === 2 && perm[0] === 1 && perm[1] === 0)) {
          value = p.input?.[0] ?? '';
          transposed = false;
        }
      }
      const next = consumers.get(node.output?.[0] ?? '') ?? [];
      if (next.length === 1 && next[0].op_type === 'Add') {
        const other = (next[0].input ?? []).find((i) => i !== node.output?.[0]);
        bias = biasName(other);
      }
    } else if (op === 'Gemm' && ins[1]) {
      if (attrInt(node, 'transA', 0) !== 0) return;
      kind = 'linear';
      value = ins[1];
      transposed = attrInt(node, 'transB', 0) === 0;
      bias = biasName(ins[2]);
    } else if (op === 'Conv' && ins[1]) {
      kind = 'conv';
      value = ins[1];
      bias = biasName(ins[2]);
    } else if (op === 'Gather' && ins[0]) {
      if (attrInt(node, 'axis', 0) !== 0) return;
      kind = 'embedding';
      value = ins[0];
    }
    if (!kind || !value) return;
    const initializer = storedBehind(value);
    if (!initializer) return;
    const shape = tensorDims(inits.get(initializer)!);
    if (kind === 'conv' ? shape.length < 3 : shape.length !== 2) return;
    const names: WeightUse['names'] = [];
    const addName = (module: string | undefined, from: string): void => {
      if (module && !names.some((n) => n.module === module)) names.push({ module, from });
    };
    for (const v of new Set([value, initializer])) {
      const m = /^(.+)\.weight$/.exec(v);
      if (m && !GENERATED.test(v)) addName(m[1], `${v === initializer ? 'initializer' : 'value'} name '${v}'`);
    }
    const bm = bias ? /^(.+)\.bias$/.exec(bias) : null;
    if (bm && !GENERATED.test(bias!)) addName(bm[1], `bias '${bias}' of the same layer`);
    addName(metadataScope(node), `node metadata name scope of '${node.name ?? ''}'`);
    const scopeParts = (node.name ?? '').startsWith('/') ? (node.name ?? '').split('/').slice(1, -1).filter(Boolean) : [];
    const scopePath = scopeParts.length ? scopeParts.join('.') : undefined;
    uses.push({
      node, nodeIndex, nodeName: node.name || `${node.op_type}#${nodeIndex}`, kind, initializer, value, transposed, shape, bias, names,
      scopePath, scopeLeaf: scopeParts[scopeParts.length - 1],
    });
  });
  return uses;
}

/**
 * The module the dynamo exporter recorded for a node: `pkg.torch.onnx.name_scopes`
 * = ['', 'model', 'model.layers.0', …, 'model.layers.0.self_attn.q_proj', 'linear']
 * lists module scopes and then the fx node's own name (graph/scopes.ts reads it
 * for every consumer).
 */
function metadataScope(node: INodeProto): string | undefined {
  return dynamoScope(node)?.path;
}

/** The delta's shape in the stored layout of a use, or undefined when the adapter cannot fit that kind of node. */
export function storedDeltaShape(req: ModuleRequest, use: { kind: DeltaKind; transposed: boolean }): number[] | undefined {
  const natural = req.module.deltaShape; // [out, in] for linear, [out, in, k…] for conv, [num, dim] for an embedding
  if (natural.length < 2) return undefined;
  if (req.deltaKind === 'conv') return use.kind === 'conv' ? natural : undefined;
  if (use.kind === 'conv') return undefined;
  // transposed storage flips a matrix
  return use.transposed ? [natural[1], natural[0]] : natural;
}

function kindFits(req: ModuleRequest, use: WeightUse): boolean {
  if (req.deltaKind === 'conv') return use.kind === 'conv';
  // An embedding may be read by Gather, and a tied lm_head reads the same numbers with MatMul.
  if (req.deltaKind === 'embedding') return use.kind === 'embedding' || use.kind === 'linear';
  return use.kind === 'linear';
}

const leafOf = (p: string): string => p.slice(p.lastIndexOf('.') + 1);
const parentOf = (p: string): string => (p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '');

export function matchOnnx(model: OnnxModel, requests: readonly ModuleRequest[]): Map<number, TargetResolution> {
  const uses = findWeightUses(model);
  const out = new Map<number, TargetResolution>();
  const nameEq = (req: ModuleRequest, name: string): boolean =>
    req.module.underscored ? underscore(name) === req.module.module : name === req.module.module;
  const nameSuffix = (req: ModuleRequest, name: string): boolean => {
    const [a, b, sep] = req.module.underscored ? [req.module.module, underscore(name), '_'] : [req.module.module, name, '.'];
    return a.endsWith(sep + b) || b.endsWith(sep + a);
  };

  const pending: ModuleRequest[] = [];
  for (const req of requests) {
    if (req.module.kind === 'replace') {
      out.set(req.id, resolveReplacement(model, req));
      continue;
    }
    const fits = uses.filter((u) => kindFits(req, u));
    let hits = fits.filter((u) => u.names.some((n) => nameEq(req, n.module)) || (u.scopePath !== undefined && nameEq(req, u.scopePath)));
    let tier = 'name';
    if (hits.length === 0) {
      hits = fits.filter((u) => u.names.some((n) => nameSuffix(req, n.module)));
      tier = 'suffix';
    }
    if (hits.length === 0) {
      pending.push(req);
      continue;
    }
    out.set(req.id, resolutionFromUses(req, hits, uses, (u) => evidenceFor(req, u, tier)));
  }
  if (pending.length) matchByCallOrder(pending, uses, out);
  return out;
}

function evidenceFor(req: ModuleRequest, u: WeightUse, tier: string): string[] {
  const ev: string[] = [];
  for (const n of u.names) {
    if (n.module === req.module.module || underscore(n.module) === req.module.module) ev.push(n.from);
    else if (tier === 'suffix') ev.push(`${n.from} (module '${n.module}' agrees with '${req.module.module}' up to a prefix)`);
  }
  if (u.scopePath && (u.scopePath === req.module.module || underscore(u.scopePath) === req.module.module)) ev.push(`node scope '${u.nodeName}'`);
  return ev;
}

/** Groups hits by stored initializer: one initializer (even read by several nodes of the same module) is a match. */
function resolutionFromUses(req: ModuleRequest, hits: WeightUse[], all: WeightUse[], evidence: (u: WeightUse) => string[]): TargetResolution {
  const byInit = new Map<string, WeightUse[]>();
  for (const u of hits) byInit.set(u.initializer, [...(byInit.get(u.initializer) ?? []), u]);
  const matches: TargetMatch[] = [];
  for (const [init, group] of byInit) {
    const u = group[0];
    const expected = storedDeltaShape(req, u);
    const ev = [...new Set(group.flatMap(evidence))];
    ev.push(`${u.node.op_type} '${u.nodeName}' reads '${init}'${u.transposed ? ' as [in, out] (transposed)' : ''}`);
    if (expected && sameShape(expected, u.shape)) ev.push(`shape ${fmtShape(u.shape)} fits the delta`);
    const own = new Set(group.map((g) => g.nodeName));
    const sharedWith = all.filter((o) => o.initializer === init && !own.has(o.nodeName)).map((o) => o.nodeName);
    const m: TargetMatch = { target: u.value, shape: u.shape, transposed: u.transposed, bias: u.bias, evidence: ev, node: u.nodeName };
    if (u.value !== init) m.evidence.push(`'${u.value}' is an Identity of initializer '${init}'`);
    if (sharedWith.length) m.sharedWith = sharedWith;
    matches.push(m);
  }
  return matches.length === 1 ? { match: matches[0] } : { candidates: matches };
}

/**
 * Nodes whose scope kept only the module's own name, paired in order with the
 * model's modules of that name — only when the counts agree and every pair
 * has the right shape.
 */
function matchByCallOrder(pending: ModuleRequest[], uses: WeightUse[], out: Map<number, TargetResolution>): void {
  const known = new Set(uses.flatMap((u) => u.names.map((n) => n.module)));
  const knownParents = new Set([...known].map(parentOf));
  const requestLeaves = new Set(pending.map((r) => leafOf(r.module.module)));
  const byLeaf = new Map<string, ModuleRequest[]>();
  for (const r of pending) {
    if (r.module.underscored) {
      out.set(r.id, { reason: 'no initializer, value or scope name matches this kohya module name' });
      continue;
    }
    const leaf = leafOf(r.module.module);
    byLeaf.set(leaf, [...(byLeaf.get(leaf) ?? []), r]);
  }
  for (const [leaf, reqs] of byLeaf) {
    // Nodes whose scope leaf is `leaf` or `leaf_N` (TorchScript's suffix for the N-th module of that name).
    const pool = uses
      .filter((u) => u.names.length === 0 && u.scopeLeaf !== undefined)
      .map((u) => ({ u, inst: instanceOf(u.scopeLeaf!, leaf, requestLeaves) }))
      .filter((x) => x.inst !== undefined && kindFits(reqs[0], x.u))
      .sort((a, b) => a.inst! - b.inst! || a.u.nodeIndex - b.u.nodeIndex)
      .map((x) => x.u);
    // The model's modules named `leaf`: names seen in the graph, the adapter's own, and siblings of known parents
    // that fit the adapter's module pattern with other layer numbers.
    const names = new Set<string>();
    for (const r of reqs) {
      names.add(r.module.module);
      const pattern = new RegExp(`^${parentOf(r.module.module).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+')}$`);
      for (const p of knownParents) if (pattern.test(p)) names.add(p ? `${p}.${leaf}` : leaf);
    }
    // Modules found by name are not in the pool (their nodes carry names), so they are not counted either.
    for (const k of known) names.delete(k);
    const ordered = [...names].sort(naturalCompare);
    for (const r of reqs) {
      if (pool.length === 0) {
        out.set(r.id, { reason: `no initializer, bias, metadata or scope name matches '${r.module.module}', and no node scope ends in '${leaf}'` });
        continue;
      }
      if (ordered.length !== pool.length) {
        out.set(r.id, {
          reason: `call order is ambiguous: ${pool.length} node(s) scoped '${leaf}' (${pool.map((u) => u.nodeName).join(', ')}) but ${ordered.length} module(s) named '${leaf}' known (${ordered.join(', ')})`,
          candidates: pool.map((u) => ({ target: u.value, shape: u.shape, transposed: u.transposed, bias: u.bias, node: u.nodeName, evidence: [`node scope '${u.nodeName}'`] })),
        });
        continue;
      }
      const i = ordered.indexOf(r.module.module);
      const u = pool[i];
      const expected = storedDeltaShape(r, u);
      if (!expected || !sameShape(expected, u.shape)) {
        out.set(r.id, { reason: `call order pairs '${r.module.module}' with '${u.nodeName}', whose weight ${fmtShape(u.shape)} cannot hold the delta ${expected ? fmtShape(expected) : ''}` });
        continue;
      }
      const ev = [
        `call order: '${r.module.module}' is module ${i + 1} of ${ordered.length} named '${leaf}' (${ordered.join(', ')}); '${u.nodeName}' is node ${i + 1} of ${pool.length} scoped '${leaf}' in graph order`,
      ];
      out.set(r.id, resolutionFromUses(r, [u], uses, () => ev));
    }
  }
}

/** Instance number of a scope leaf for module name `leaf`: `q_proj` → 0, `q_proj_2` → 2; undefined if it is another name. */
function instanceOf(scopeLeaf: string, leaf: string, requestLeaves: Set<string>): number | undefined {
  if (scopeLeaf === leaf) return 0;
  const m = /^(.*)_(\d+)$/.exec(scopeLeaf);
  if (m && m[1] === leaf && !requestLeaves.has(scopeLeaf)) return Number(m[2]);
  return undefined;
}

/** modules_to_save on ONNX: the tensors must be initializers (or Identity outputs of one) named `<module>.<param>`. */
function resolveReplacement(model: OnnxModel, req: ModuleRequest): TargetResolution {
  const names = new Set((model.graph.initializer ?? []).map((t) => t.name ?? ''));
  const identityOut = new Map<string, string>();
  for (const n of model.graph.node ?? []) if (n.op_type === 'Identity' && n.input?.[0] && names.has(n.input[0])) identityOut.set(n.output?.[0] ?? '', n.input[0]);
  const replacements: Record<string, string> = {};
  const evidence: string[] = [];
  for (const p of Object.keys(req.module.replacements ?? {})) {
    const want = req.module.underscored ? undefined : `${req.module.module}.${p}`;
    if (want && (names.has(want) || identityOut.has(want))) {
      replacements[p] = want;
      evidence.push(names.has(want) ? `initializer '${want}'` : `'${want}' is an Identity of initializer '${identityOut.get(want)}'`);
    } else {
      return { reason: `modules_to_save tensor '${req.module.module}.${p}' is not an initializer of the model` };
    }
  }
  const first = Object.values(replacements)[0];
  const t = (model.graph.initializer ?? []).find((x) => x.name === (identityOut.get(first) ?? first))!;
  return { match: { target: first, shape: tensorDims(t), transposed: false, replacements, evidence: [...evidence, 'modules_to_save: whole tensors replace the base'] } };
}

