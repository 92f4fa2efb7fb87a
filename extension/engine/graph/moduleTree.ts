/**
 * Recovers the PyTorch module tree of an exported ONNX graph: which
 * `nn.Module` (by its path, `layer1.0.conv1`) each node came from, how often
 * each module was called, and how many parameters each holds.
 *
 * Exporters leave three kinds of evidence, each unreliable on its own (how
 * names and metadata are read is graph/scopes.ts; BatchNorms folded away by
 * the exporter are graph/exporterFolds.ts):
 * - TorchScript node names, `/layer1/layer1.0/conv1/Conv`. Each segment is a
 *   module scope named from its last named atom (`conv.0.2` under `conv.0`
 *   under `conv` is `features.1.conv.0.2`); a scope entered again gets a `_N`
 *   suffix (`/relu_1/Relu` is the second call of `relu`), which only counts
 *   as a call when the same parent has the unsuffixed scope (Inception's
 *   `branch3x3_1` is a name). When a container's forward() was never called
 *   (a loop over `self.blocks` calling `block.conv1` directly), its prefix is
 *   lost: `blocks.0.conv1` appears as `/conv1_1/Conv`.
 * - The exporter's de-duplication of equal parameters: one initializer read
 *   through `Identity_N` nodes. Those nodes are no module's calls.
 * - Initializer names, `blocks.0.conv1.weight`: the state-dict key, always the
 *   full path, but only for nodes with parameters (and shared by tied weights).
 * - The dynamo exporter's node `metadata_props`: `pkg.torch.onnx.name_scopes`
 *   (full module paths) and `pkg.torch.onnx.class_hierarchy` (module classes).
 *   Its optimizer may fold a BatchNorm into the Conv before us; that Conv then
 *   carries the BN's scope and the Conv's weight: it stands for both modules.
 *
 * Rules, in order: dynamo metadata; else a parameter name that agrees with
 * the node name (or is the node name with a lost container prefix); else the
 * nearest resolved ancestor scope's path with the rest of the node name
 * joined on, call suffixes removed. A scope without parameters takes
 * its path from the resolved scopes it exchanges values with inside one call
 * (a caller reading its callee's result), before falling back to its name:
 * that is what puts a PEFT layer's adapter nodes under the right layer when
 * the layers' containers were never called. A tied weight (one initializer
 * read by nodes of different scopes) never overrides the node's own scope.
 * Parameter-free modules with a lost prefix (`/relu_1/Relu`) resolve to the
 * name they were called by; when two calls strip to the same name they are
 * one module with two call sites. That errs towards reporting a shared module:
 * a false "shared" warning only keeps a group out of `fuse-list`, while a
 * missed one would silently break the user's model.
 */
import type { OnnxModel } from '../onnx/model';
import type { onnx } from '../onnx/proto';
import { isFloatType } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import { GraphIndex } from './graphIndex';
import { nodeAddresses } from './nodeAddress';
import { nameAdapterScopes } from './peftAdapterScopes';
import { dynamoScope, isBatchNormClass, joinScopes, STATE_DICT_KEY, TORCHSCRIPT_CALL_SUFFIX, torchScriptScope, type TorchScriptScope } from './scopes';
import type { ModuleTreeNode } from './moduleTreeNode';
export type { ModuleTreeNode } from './moduleTreeNode';

/** Nodes are named by their address (graph/nodeAddress.ts): the node name, or `Conv#0` for unnamed / duplicate-named nodes. */
export interface ModuleTree {
  /** The module a node belongs to (for nodes standing for several modules: the first, the one owning the weight), null if none. */
  moduleOf(nodeName: string): string | null;
  /**
   * Every module a node stands for, in data-flow order. Usually one; two when
   * the exporter already folded a BatchNorm into a Conv (`['conv1', 'bn1']`);
   * empty when no module can be recovered.
   */
  modulesOf(nodeName: string): string[];
  /** One node name per call of the module (the first node of each call), in graph order. */
  callSites(modulePath: string): string[];
  /** Which call of its module a node belongs to, 1-based (`/relu_1/Relu` → 2), 0 for nodes of no module. */
  callSiteOf(nodeName: string): number;
  /** All nodes of a module (direct ones, not its children's), in graph order. */
  nodesOf(modulePath: string): string[];
  /** The module's tree node, or undefined. */
  find(modulePath: string): ModuleTreeNode | undefined;
  /** The PyTorch class name the exporter recorded, if any. */
  classNameOf(modulePath: string): string | undefined;
  readonly root: ModuleTreeNode;
  toJSON(): ModuleTreeNode;
}

/** What we learn about one node. */
interface NodeModuleInfo {
  /** Module paths, first the primary one. */
  modules: string[];
  /** Identifies one call of the primary module: nodes with the same key come from the same forward() call. */
  callKey: string | null;
  /** Module class per module path, when the exporter recorded it. */
  classes: Map<string, string>;
}

const TORCHSCRIPT_NAME_AND_CALL = /^(.+)_(\d+)$/;
/**
 * Deeper paths are not modules but hostile names (`/a/a/a/…` thousands deep):
 * they would make the tree, its JSON and the tree view recurse without bound.
 */
const MAX_MODULE_DEPTH = 64;
/** Single-op module classes: every node of theirs is one call. */
const ONE_NODE_PER_CALL = new Set(['Relu', 'Conv', 'ConvTranspose', 'Gemm', 'BatchNormalization', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Gelu', 'HardSigmoid', 'HardSwish', 'Softmax', 'MaxPool', 'AveragePool', 'GlobalAveragePool']);

export interface ModuleTreeOptions {
  /**
   * BatchNorms the exporter folded into a Conv, by the Conv's node address
   * (graph/exporterFolds.ts, named from the model's checkpoint): the Conv then
   * stands for both modules, as a dynamo export records it.
   */
  foldedBatchNorms?: ReadonlyMap<string, string>;
}

export function buildModuleTree(model: OnnxModel, index: GraphIndex = new GraphIndex(model.graph), options: ModuleTreeOptions = {}): ModuleTree {
  const nodes = model.graph.node ?? [];
  // Keyed by the address scan uses (graph/nodeAddress.ts): unnamed nodes of old exporters and hand-made graphs still
  // get a module from their parameter names (`Conv#0` reading `0.weight` is module '0').
  const addresses = nodeAddresses(nodes);
  const infos = new Map<string, NodeModuleInfo>();
  const initializerUsers = initializerScopes(nodes, index, addresses);
  const seen = new Set<string>();
  const named = nodes.filter((n) => n.name && !seen.has(n.name) && !!seen.add(n.name));
  // TorchScript: all nodes of one scope (`/q_proj/MatMul`, `/q_proj/Add`) are one call of one module. Whichever
  // node has a parameter whose name agrees with the scope (`layers.0.attn.q_proj.bias`) names it for all of them.
  const scopePaths = new Map<string, string>();
  for (const node of named) {
    const scope = torchScriptScope(node.name ?? '');
    const p = parameterModule(node, index, initializerUsers);
    if (scope && p && agrees(p.path, scope) && !scopePaths.has(scopeKey(scope))) scopePaths.set(scopeKey(scope), p.path);
  }
  resolveScopesWithoutParameters(named, index, scopePaths);
  const pathOfScope = scopePathResolver(named, scopePaths);
  for (const node of nodes) {
    const info = nodeModuleInfo(node, index, initializerUsers, pathOfScope);
    const foldedBatchNorm = options.foldedBatchNorms?.get(addresses.get(node)!);
    if (foldedBatchNorm && info.modules.length === 1 && info.modules[0] !== foldedBatchNorm) info.modules.push(foldedBatchNorm);
    if (info.modules.some((p) => !isReasonablePath(p))) info.modules = [];
    infos.set(addresses.get(node)!, info);
    // A repeated name also answers for its first node, as callers looking up by plain name expect.
    if (node.name && !infos.has(node.name)) infos.set(node.name, info);
  }
  return assembleTree(model, index, nodes, infos, addresses);
}

function isReasonablePath(path: string): boolean {
  let dots = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 46) dots++;
  return dots < MAX_MODULE_DEPTH;
}

// ---------------------------------------------------------------- evidence

/** For each initializer: the TorchScript scopes (or node names) of the nodes reading it, to tell tied weights from a module called twice. */
function initializerScopes(nodes: readonly onnx.INodeProto[], index: GraphIndex, addresses: Map<onnx.INodeProto, string>): Map<string, Set<string>> {
  const users = new Map<string, Set<string>>();
  for (const node of nodes) {
    const scope = torchScriptScope(node.name ?? '');
    const key = scope ? scope.stripped : (addresses.get(node) ?? '');
    for (const inp of node.input ?? []) {
      if (!inp || !isParameterValue(inp, index)) continue;
      let s = users.get(inp);
      if (!s) users.set(inp, (s = new Set()));
      s.add(key);
    }
  }
  return users;
}

function nodeModuleInfo(
  node: onnx.INodeProto,
  index: GraphIndex,
  initializerUsers: Map<string, Set<string>>,
  pathOfScope: (scope: TorchScriptScope) => string,
): NodeModuleInfo {
  const classes = new Map<string, string>();
  // The TorchScript exporter replaces equal parameters (a fresh model's BatchNorms: all ones, all zeros) by one
  // initializer read through `Identity_N` nodes that give each copy its own name. Such a node computes nothing for
  // any module: counting it as a call would make one BatchNorm "called from 19 places".
  if (isParameterAlias(node, index)) return { modules: [], callKey: null, classes };
  const fromParams = parameterModule(node, index, initializerUsers);
  const dynamo = dynamoScope(node);
  if (dynamo) {
    dynamo.classes.forEach((cls, p) => classes.set(p, cls));
    const callKey = `dynamo:${dynamo.rawPath}`;
    // The exporter's optimizer folded a BatchNorm into this node: the node carries the BN's scope and the Conv/Linear's weight.
    if (fromParams && fromParams.path !== dynamo.path && isBatchNormClass(dynamo.classes.get(dynamo.path))) {
      return { modules: [fromParams.path, dynamo.path], callKey, classes };
    }
    return { modules: [dynamo.path], callKey, classes };
  }
  const scope = torchScriptScope(node.name ?? '');
  if (scope) {
    const callKey = `ts:${scopeKey(scope)}`;
    // A parameter of another module read directly (F.conv2d(x, self.conv.weight)) names this node only, unless it is a tied weight.
    if (fromParams && !fromParams.tied && !agrees(fromParams.path, scope)) return { modules: [fromParams.path], callKey, classes };
    const path = pathOfScope(scope);
    return { modules: path ? [path] : [], callKey: path ? callKey : null, classes };
  }
  if (fromParams) return { modules: [fromParams.path], callKey: null, classes };
  return { modules: [], callKey: null, classes };
}

/** An Identity of an initializer: the exporter's de-duplication of equal parameters, not a module's computation. */
export function isParameterAlias(node: onnx.INodeProto, index: GraphIndex): boolean {
  return node.op_type === 'Identity' && (node.domain ?? '') === '' && !!node.input?.[0] && index.initializers.has(node.input[0]);
}

/**
 * The module path of every TorchScript scope: the one its parameters or data
 * flow resolved (scopePaths), else its nearest resolved ancestor's path with
 * the remaining segments joined on (joinScopes). A `_N` suffix marks the
 * N+1-th call of a module only when the same parent also has the scope without
 * it (`relu`, `relu_1`); otherwise it is part of the name (`branch3x3_1` in
 * Inception, which has no `branch3x3` beside it).
 */
function scopePathResolver(named: readonly onnx.INodeProto[], scopePaths: Map<string, string>): (scope: TorchScriptScope) => string {
  // Every scope prefix, to tell `relu_1` (a second call beside `relu`) from a name. Deeper scopes are hostile names,
  // not modules (isReasonablePath): skipping them keeps this linear in the file's size.
  const keys = new Set<string>();
  for (const node of named) {
    const scope = torchScriptScope(node.name ?? '');
    if (!scope || scope.rawSegments.length > MAX_MODULE_DEPTH) continue;
    let key = '';
    for (const seg of scope.rawSegments) keys.add((key = key ? `${key}/${seg}` : seg));
  }
  const withoutCallSuffix = (parent: readonly string[], segment: string): string => {
    const m = TORCHSCRIPT_NAME_AND_CALL.exec(segment);
    return m && keys.has([...parent, m[1]].join('/')) ? m[1] : segment;
  };
  const cache = new Map<string, string>();
  return (scope) => {
    const key = scopeKey(scope);
    const known = scopePaths.get(key) ?? cache.get(key);
    if (known !== undefined) return known;
    const segs = scope.rawSegments;
    if (segs.length > MAX_MODULE_DEPTH) return joinScopes(segs);
    let i = segs.length - 1;
    while (i > 0 && !scopePaths.has(segs.slice(0, i).join('/'))) i--;
    const base = i > 0 ? scopePaths.get(segs.slice(0, i).join('/'))! : '';
    const rest = segs.slice(i).map((seg, j) => withoutCallSuffix(segs.slice(0, i + j), seg));
    const path = joinScopes(rest, base);
    cache.set(key, path);
    return path;
  };
}

/**
 * A parameter path is the scope's module when the scope's path segments appear
 * in it, in order, ending at the same segment: the node name may have lost
 * containers that were never called (`blocks.0.` before `conv1`, or
 * `layers.0.attn.` inside `model.….q_proj`).
 */
function agrees(paramPath: string, scope: TorchScriptScope): boolean {
  const have = paramPath.split('.');
  return [scope.raw, scope.stripped].some((p) => p !== '' && isSubsequenceEndingTogether(p.split('.'), have));
}

function isSubsequenceEndingTogether(want: string[], have: string[]): boolean {
  if (want.length === 0 || want[want.length - 1] !== have[have.length - 1]) return false;
  let j = 0;
  for (const seg of have) if (j < want.length && seg === want[j]) j++;
  return j === want.length;
}

/**
 * Evidence is taken at most this many hops away from a parameter: the real
 * chains are short (base layer → LoRA layer's Add → lora_B → lora_A), and a
 * bound keeps hostile graphs (long chains of scopes) linear.
 */
const MAX_INFERENCE_ROUNDS = 8;

/**
 * Scopes whose nodes read no named parameter get their path from the scopes
 * around them, by two rules applied in rounds until nothing changes: data flow
 * (inferFromDataFlow) and, after it, the key structure (inferParentScopes).
 * Then the entries of PEFT's adapter ModuleDicts, whose container was never
 * called, get it back (peftAdapterScopes.ts).
 */
function resolveScopesWithoutParameters(named: readonly onnx.INodeProto[], index: GraphIndex, scopePaths: Map<string, string>): void {
  const scoped = new Map<onnx.INodeProto, ScopedNode>();
  for (const node of named) {
    const scope = torchScriptScope(node.name ?? '');
    if (scope) scoped.set(node, { scope, key: scopeKey(scope), stripped: scope.rawSegments.map((s) => s.replace(TORCHSCRIPT_CALL_SUFFIX, '')) });
  }
  const inferred = new Set<string>();
  // Evidence from below (a callee's path, which its parameters named in full) first; only then from above, whose
  // path lacks the containers lost in between: `/model/q_proj_1/Cast` also feeds `/model/MatMul_2` of `base_model.model`.
  for (const fromCallers of [false, true]) {
    for (let round = 0; round < MAX_INFERENCE_ROUNDS; round++) {
      const byDataFlow = inferFromDataFlow(scoped, index, scopePaths, fromCallers);
      byDataFlow.forEach((k) => inferred.add(k));
      if (byDataFlow.length + inferParentScopes(scopePaths) === 0) break;
    }
  }
  nameAdapterScopes(scoped, index, scopePaths, inferred);
}

interface ScopedNode {
  scope: TorchScriptScope;
  key: string;
  /** Scope segments with `_N` call suffixes removed. */
  stripped: string[];
}

/**
 * A scope without parameters takes its path from a resolved scope one level
 * above or below it that it exchanges values with. Scope names alone cannot
 * do this when containers were never called: `q_proj` and `q_proj_1` are then
 * the q_proj of two different layers, and their children's names
 * (`base_layer_1` under `q_proj`) do not even say which call they belong to;
 * the values do. Only edges that stay inside one call count:
 * - a callee's result goes to its caller: the LoRA layer's Add
 *   `/model/q_proj_1/Add` reads `/model/q_proj/base_layer_1/Add`, so
 *   `q_proj_1` is `layers.1.attn.q_proj`; lora_B's MatMul feeds `/model/q_proj/Mul`;
 * - a caller passes values to its callees, but the value may come from the
 *   previous call of the caller, so only from a caller called once
 *   (`/model/Relu_1` → `/model/pool/…`);
 * - within a PEFT layer, lora_A's result goes to lora_B (same scope name,
 *   `default` → `default_1`); elsewhere two calls of one scope name exchanging
 *   a value are usually consecutive calls, so that edge counts nowhere else.
 * The last two only when `fromCallers`. Only a single, unanimous proposal is
 * taken; otherwise the node name decides, as before. Returns the keys resolved in this round.
 */
function inferFromDataFlow(scoped: Map<onnx.INodeProto, ScopedNode>, index: GraphIndex, scopePaths: Map<string, string>, fromCallers: boolean): string[] {
  const callsOf = new Map<string, Set<string>>(); // stripped scope → raw keys (its calls)
  for (const s of scoped.values()) {
    const k = s.stripped.join('/');
    let set = callsOf.get(k);
    if (!set) callsOf.set(k, (set = new Set()));
    set.add(s.key);
  }
  const loraLayers = new Set([...scopePaths.values()].filter((p) => p.endsWith('.base_layer')).map((p) => p.slice(0, -'.base_layer'.length)));
  const proposals = new Map<string, Set<string>>();
  const propose = (s: ScopedNode, path: string | null): void => {
    if (!path || !isReasonablePath(path) || !agrees(path, s.scope)) return;
    let set = proposals.get(s.key);
    if (!set) proposals.set(s.key, (set = new Set()));
    set.add(path);
  };
  /** `s` (unresolved) and a neighbour `n`; `sReads` when the value flows from n to s. */
  const consider = (s: ScopedNode, neighbour: onnx.INodeProto, sReads: boolean): void => {
    const n = scoped.get(neighbour);
    const known = n && scopePaths.get(n.key);
    if (!n || !known) return;
    const [a, b] = [s.stripped, n.stripped];
    if (b.length === a.length + 1 && isPrefix(a, b) && sReads) {
      // s is the caller, reading its callee's result.
      const child = `.${b[b.length - 1]}`;
      propose(s, known.endsWith(child) ? known.slice(0, -child.length) : null);
    } else if (!fromCallers) {
      return;
    } else if (a.length === b.length + 1 && isPrefix(b, a) && (!sReads || callsOf.get(b.join('/'))?.size === 1)) {
      // s is the callee: its result read by the caller, or its input from a caller called once.
      propose(s, `${known}.${a[a.length - 1]}`);
    } else if (a.length === b.length && isPrefix(a, b) && !sReads && loraLayers.has(known.slice(0, Math.max(0, known.lastIndexOf('.'))))) {
      // lora_A's result read by lora_B, resolved to `<layer>.<adapter>`.
      propose(s, known);
    }
  };
  for (const [node, s] of scoped) {
    if (scopePaths.has(s.key)) continue;
    for (const inp of node.input ?? []) {
      const p = inp ? index.producer.get(inp) : undefined;
      if (p) consider(s, p, true);
    }
    for (const out of node.output ?? []) if (out) for (const c of index.consumersOf(out)) consider(s, c.node, false);
  }
  const resolved: string[] = [];
  for (const [key, paths] of proposals) {
    if (paths.size !== 1) continue;
    scopePaths.set(key, [...paths][0]);
    resolved.push(key);
  }
  return resolved;
}

function isPrefix(short: readonly string[], long: readonly string[]): boolean {
  return short.every((seg, i) => seg === long[i]);
}

/**
 * A scope without parameters of its own (`/model/q_proj/Mul`) takes its path
 * from its resolved child scopes (`/model/q_proj/base_layer` →
 * `….q_proj.base_layer`), but only when all children agree on it.
 * Returns how many scopes it resolved.
 */
function inferParentScopes(scopePaths: Map<string, string>): number {
  const proposals = new Map<string, Set<string>>();
  const keys = [...scopePaths.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const key of keys) {
    const segs = key.split('/');
    if (segs.length < 2) continue;
    const child = segs[segs.length - 1].replace(TORCHSCRIPT_CALL_SUFFIX, '');
    const path = scopePaths.get(key)!;
    if (!path.endsWith('.' + child)) continue;
    const parentKey = segs.slice(0, -1).join('/');
    const parentPath = path.slice(0, -(child.length + 1));
    const parentScope = torchScriptScope(`/${parentKey}/op`);
    if (!parentScope || !agrees(parentPath, parentScope)) continue;
    let set = proposals.get(parentKey);
    if (!set) proposals.set(parentKey, (set = new Set()));
    set.add(parentPath);
  }
  let resolved = 0;
  for (const [key, paths] of proposals) {
    if (scopePaths.has(key) || paths.size !== 1) continue;
    scopePaths.set(key, [...paths][0]);
    resolved++;
  }
  return resolved;
}

function scopeKey(scope: TorchScriptScope): string {
  return scope.rawSegments.join('/');
}

/**
 * The module owning a node's parameters: the first state-dict-named
 * initializer input (slot order: weight before bias). `tied` when nodes of
 * different scopes read it (tied weights), so the node name decides.
 */
function parameterModule(node: onnx.INodeProto, index: GraphIndex, users: Map<string, Set<string>>): { path: string; tied: boolean } | undefined {
  let fallback: { path: string; tied: boolean } | undefined;
  for (const inp of node.input ?? []) {
    if (!inp || !isParameterValue(inp, index) || !STATE_DICT_KEY.test(inp)) continue;
    const path = inp.slice(0, inp.lastIndexOf('.'));
    const tied = (users.get(inp)?.size ?? 0) > 1;
    if (!tied) return { path, tied };
    fallback ??= { path, tied };
  }
  return fallback;
}

/**
 * An initializer, or a value the TorchScript exporter renamed through an
 * Identity of one (it de-duplicates equal parameters: `layers.1.norm.bias =
 * Identity(layers.0.norm.bias)`), so the value still carries a state-dict name.
 */
function isParameterValue(value: string, index: GraphIndex): boolean {
  if (index.initializers.has(value)) return true;
  const p = index.producer.get(value);
  return !!p && p.op_type === 'Identity' && !!p.input?.[0] && index.initializers.has(p.input[0]);
}

// ---------------------------------------------------------------- the tree

function assembleTree(
  model: OnnxModel,
  index: GraphIndex,
  nodes: readonly onnx.INodeProto[],
  infos: Map<string, NodeModuleInfo>,
  addresses: Map<onnx.INodeProto, string>,
): ModuleTree {
  const root: ModuleTreeNode = { path: '', name: '', children: [], nodes: [], opTypes: [], parameterCount: 0, callSites: 0 };
  const byPath = new Map<string, ModuleTreeNode>([['', root]]);
  const calls = new Map<string, string[]>(); // module → first node of each call
  const callKeys = new Map<string, Map<string, number>>(); // module → call key → 1-based call index
  const callOfNode = new Map<string, number>();
  const classNames = new Map<string, string>();

  const ensure = (path: string): ModuleTreeNode => {
    let n = byPath.get(path);
    if (n) return n;
    const dot = path.lastIndexOf('.');
    const parent = ensure(dot < 0 ? '' : path.slice(0, dot));
    n = { path, name: path.slice(dot + 1), children: [], nodes: [], opTypes: [], parameterCount: 0, callSites: 0 };
    parent.children.push(n);
    byPath.set(path, n);
    return n;
  };

  for (const node of nodes) {
    const name = addresses.get(node) ?? '';
    const info = name ? infos.get(name) : undefined;
    const op = node.op_type ?? '';
    if (!info || info.modules.length === 0) {
      if (name) root.nodes.push(name);
      addOnce(root.opTypes, op);
      continue;
    }
    info.classes.forEach((cls, p) => classNames.set(p, cls));
    for (const [i, path] of info.modules.entries()) {
      const m = ensure(path);
      m.nodes.push(name);
      addOnce(m.opTypes, op);
      // A call is recognised by its scope key (TorchScript `relu_1`, torch.export `relu@1`); single-op modules count every node.
      const key = i === 0 && info.callKey ? info.callKey : `node:${name}`;
      let keys = callKeys.get(path);
      if (!keys) callKeys.set(path, (keys = new Map()));
      if (!keys.has(key)) {
        const list = calls.get(path) ?? [];
        list.push(name);
        calls.set(path, list);
        keys.set(key, list.length);
      }
      if (i === 0) callOfNode.set(name, keys.get(key)!);
    }
  }
  // Without TorchScript scopes (dynamo, or parameter names only) a repeated call may carry no suffix. A leaf
  // module whose nodes are all one single-op kind (nn.ReLU, nn.Conv2d) makes one such node per call.
  for (const [path, list] of calls) {
    const m = byPath.get(path)!;
    if (m.children.length > 0 || m.opTypes.length !== 1 || !ONE_NODE_PER_CALL.has(m.opTypes[0])) continue;
    if (m.nodes.some((n) => infos.get(n)?.callKey?.startsWith('ts:'))) continue;
    if (m.nodes.length > list.length) {
      calls.set(path, [...m.nodes]);
      m.nodes.forEach((n, k) => callOfNode.set(n, k + 1));
    }
  }
  for (const [path, list] of calls) byPath.get(path)!.callSites = list.length;

  assignParameters(model, index, (n) => infos.get(addresses.get(n) ?? ''), ensure, byPath);
  sumParameters(root);
  for (const [p, cls] of classNames) {
    const m = byPath.get(p);
    if (m) m.className = cls;
  }

  const tree: ModuleTree = {
    root,
    moduleOf: (n) => infos.get(n)?.modules[0] ?? null,
    modulesOf: (n) => [...(infos.get(n)?.modules ?? [])],
    callSites: (p) => [...(calls.get(p) ?? [])],
    callSiteOf: (n) => callOfNode.get(n) ?? 0,
    nodesOf: (p) => [...(byPath.get(p)?.nodes ?? [])],
    find: (p) => byPath.get(p),
    classNameOf: (p) => classNames.get(p),
    toJSON: () => root,
  };
  return tree;
}

/**
 * Parameters: a state-dict-named initializer belongs to the module its name
 * says; a generated name (`onnx::MatMul_30`, the transposed Linear weight)
 * to the module of the node reading it, if exactly one module does.
 */
function assignParameters(
  model: OnnxModel,
  index: GraphIndex,
  infoOf: (node: onnx.INodeProto) => NodeModuleInfo | undefined,
  ensure: (p: string) => ModuleTreeNode,
  byPath: Map<string, ModuleTreeNode>,
): void {
  for (const t of model.graph.initializer ?? []) {
    if (!isFloatType(t.data_type ?? 0)) continue;
    const name = t.name ?? '';
    let owner: string | undefined;
    if (STATE_DICT_KEY.test(name)) {
      const p = name.slice(0, name.lastIndexOf('.'));
      // Attach to modules the graph shows (byPath holds their ancestors too) or that a node reads (a tied weight's owner);
      // an unused stray key would otherwise invent a module.
      if (isReasonablePath(p) && (byPath.has(p) || index.consumersOf(name).length > 0)) owner = p;
    }
    if (owner === undefined) {
      const mods = new Set(index.consumersOf(name).map((c) => infoOf(c.node)?.modules[0]).filter((m): m is string => !!m));
      if (mods.size === 1) owner = [...mods][0];
    }
    const count = tensorDims(t).reduce((a, b) => a * b, 1);
    (owner !== undefined ? ensure(owner) : byPath.get('')!).parameterCount += count;
  }
}

function sumParameters(m: ModuleTreeNode): number {
  for (const c of m.children) m.parameterCount += sumParameters(c);
  return m.parameterCount;
}

function addOnce(list: string[], v: string): void {
  if (v && !list.includes(v)) list.push(v);
}
