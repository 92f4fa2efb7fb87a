/**
 * `fuse-list`: the groups scan found, as the Python call that fuses them in
 * the user's PyTorch model, `torch.ao.quantization.fuse_modules(model, [...])`.
 *
 * Only groups PyTorch really fuses correctly are listed:
 * - the module types must be a sequence torch has a fuser method for
 *   (torch/ao/quantization/fuser_method_mappings.py; e.g. BatchNorm1d + ReLU
 *   has none and fails with "did not find fuser method");
 * - no module may be called from several places (fuse_modules would replace
 *   it by Identity everywhere and silently break the model);
 * - the group must not be blocked (an intermediate read elsewhere would then
 *   see the fused result; a BN in training mode is not fused for inference);
 * - every node must have a recovered module that is a leaf doing just its part.
 * Everything left out is printed as a Python comment with the reason.
 */
import type { ModuleTree } from '../graph/moduleTree';
import { escapeControls } from '../text/inert';
import type { GraphIndex } from '../graph/graphIndex';
import { nodeAddresses } from '../graph/nodeAddress';
import type { Candidate } from './candidate';
import type { ModelAnalysis } from './scan';
import { convSpatialDims, type ScanContext } from './scanContext';
import type { Ranks } from './ranks';
import type { INodeProto as NodeProto } from '../onnx/proto';

/** Module-type sequences torch.ao.quantization.fuse_modules can fuse (its default fuser methods). */
const TORCH_FUSER_SEQUENCES = new Set(
  [
    ...[1, 2, 3].flatMap((d) => [
      [`Conv${d}d`, `BatchNorm${d}d`],
      [`Conv${d}d`, `BatchNorm${d}d`, 'ReLU'],
      [`Conv${d}d`, 'ReLU'],
      [`ConvTranspose${d}d`, `BatchNorm${d}d`],
    ]),
    ['Linear', 'BatchNorm1d'],
    ['Linear', 'ReLU'],
    ['BatchNorm2d', 'ReLU'],
    ['BatchNorm3d', 'ReLU'],
  ].map((s) => s.join(',')),
);

export interface FuseListGroup {
  modules: string[];
  /** torch.nn module types, as inferred. */
  types: string[];
}

export interface ExcludedGroup {
  candidate: string;
  modules: (string | null)[];
  reason: string;
}

export interface FuseList {
  groups: FuseListGroup[];
  excluded: ExcludedGroup[];
}

export function buildFuseList(analysis: ModelAnalysis): FuseList {
  const { tree, index, ranks } = analysis;
  const groups: FuseListGroup[] = [];
  const excluded: ExcludedGroup[] = [];
  const used = new Set<string>();
  for (const c of analysis.scan.candidates) {
    if (!isTorchPattern(c)) continue;
    const verdict = withoutFunctionalActivation(c, tree, index, ranks, used) ?? judge(c, tree, index, ranks, used);
    if ('reason' in verdict) excluded.push({ candidate: c.id, modules: c.modules, reason: verdict.reason });
    else {
      groups.push(verdict);
      verdict.modules.forEach((m) => used.add(m));
    }
  }
  return { groups, excluded };
}

/** conv-add, conv-mul, matmul-add (and LoRA branches) are ONNX-level folds with no fuse_modules counterpart. */
function isTorchPattern(c: Candidate): boolean {
  return ['conv-bn', 'conv-bn-relu', 'conv-relu', 'linear-relu', 'bn-relu', 'linear-bn', 'convtranspose-bn'].includes(c.pattern);
}

/**
 * conv → bn → F.relu (GoogLeNet's and Inception's BasicConv2d): the activation
 * is a function, not a module, so fuse_modules cannot take it; [conv, bn] is
 * still a group it fuses, and the functional ReLU keeps working on the fused
 * Conv's output. Undefined when this does not apply (the whole group is judged).
 * (A ReLU module after the BatchNorm makes the group [conv, bn, relu] instead.)
 */
function withoutFunctionalActivation(c: Candidate, tree: ModuleTree, index: GraphIndex, ranks: Ranks, used: Set<string>): FuseListGroup | undefined {
  if (c.pattern !== 'conv-bn-relu' || c.blocked || c.details?.unnamedBatchNorm !== undefined) return undefined;
  const [conv, bn, act] = c.modules;
  // The function's node belongs to no module, or to the module whose forward() calls it (the BasicConv2d around both).
  const functional = act === null || (conv !== null && conv.startsWith(`${act}.`));
  if (c.modules.length !== 3 || conv === null || bn === null || !functional) return undefined;
  const verdict = judge({ ...c, pattern: 'conv-bn', modules: [conv, bn], nodes: c.nodes.slice(0, -1) }, tree, index, ranks, used);
  return 'reason' in verdict ? undefined : verdict;
}

function judge(c: Candidate, tree: ModuleTree, index: GraphIndex, ranks: Ranks, used: Set<string>): FuseListGroup | { reason: string } {
  if (c.blocked) return { reason: c.blocked };
  if (c.details?.unnamedBatchNorm !== undefined) return { reason: c.details.unnamedBatchNorm };
  if (c.modules.some((m) => m === null)) {
    const n = c.nodes.find((name) => tree.modulesOf(name).length === 0);
    return { reason: `node '${n}' belongs to no module (a functional call such as F.relu cannot be fused by fuse_modules)` };
  }
  const modules = c.modules as string[];
  if (new Set(modules).size !== modules.length) return { reason: `a module appears twice in the group (${modules.join(', ')})` };
  for (const m of modules) {
    const sites = tree.callSites(m);
    if (sites.length > 1) return { reason: `module '${m}' is called from ${sites.length} places; fuse_modules would replace it by Identity everywhere` };
    if (used.has(m)) return { reason: `module '${m}' is already in another group` };
    if ((tree.find(m)?.children.length ?? 0) > 0) return { reason: `'${m}' is a container module, not a single layer` };
  }
  const types = modules.map((m) => moduleType(m, tree, index, ranks));
  const unknown = types.findIndex((t) => t.startsWith('?'));
  if (unknown >= 0) return { reason: `cannot tell the type of module '${modules[unknown]}' (${types[unknown].slice(1)})` };
  if (!TORCH_FUSER_SEQUENCES.has(types.join(','))) return { reason: `torch has no fuser method for (${types.join(', ')})` };
  return { modules, types };
}

/** The torch.nn class of a module: recorded by the exporter, or inferred from its ONNX ops; '?why' when unknown. */
export function moduleType(path: string, tree: ModuleTree, index: GraphIndex, ranks: Ranks): string {
  const recorded = tree.classNameOf(path);
  if (recorded) {
    const m = /^torch\.nn\.modules\.[a-z_]+\.([A-Za-z0-9]+)$/.exec(recorded);
    return m ? m[1] : `?its class ${recorded} is not a torch.nn layer fuse_modules knows`;
  }
  const nodes = tree.nodesOf(path).map((n) => nodeByName(index, n)).filter((n): n is NodeProto => !!n);
  const ops = new Set(nodes.map((n) => n.op_type ?? ''));
  const ctx = { index } as unknown as ScanContext;
  const only = (...allowed: string[]): boolean => [...ops].every((o) => allowed.includes(o));
  // A BN the exporter folded into the Conv has no node of its own: it shares the Conv's node, whose first module is the
  // Conv, and its type follows the Conv's rank.
  const host = nodes.find((n) => n.op_type === 'Conv' || n.op_type === 'ConvTranspose');
  if (host && only('Conv', 'ConvTranspose') && tree.modulesOf(tree.nodesOf(path)[nodes.indexOf(host)] ?? '')[0] !== path) {
    const d = convSpatialDims(ctx, host);
    return d && d >= 1 && d <= 3 ? `BatchNorm${d}d` : '?its Conv weight rank is unknown';
  }
  if (ops.has('Conv') && only('Conv')) {
    const d = convSpatialDims(ctx, nodes[0]);
    return d && d >= 1 && d <= 3 ? `Conv${d}d` : '?its Conv weight rank is unknown';
  }
  if (ops.has('ConvTranspose') && only('ConvTranspose')) {
    const d = convSpatialDims(ctx, nodes[0]);
    return d && d >= 1 && d <= 3 ? `ConvTranspose${d}d` : '?its ConvTranspose weight rank is unknown';
  }
  if ((ops.has('Gemm') && only('Gemm')) || (ops.has('MatMul') && only('MatMul', 'Add'))) return 'Linear';
  if (ops.has('Relu') && only('Relu')) return 'ReLU';
  if (ops.has('BatchNormalization') && only('BatchNormalization', 'Constant')) {
    const bn = nodes.find((n) => n.op_type === 'BatchNormalization')!;
    const producer = index.producer.get(bn.input?.[0] ?? '');
    // Without shape information a Conv's weight still tells the rank: [N, C, spatial…] has weight rank.
    const convRank = producer && (producer.op_type === 'Conv' || producer.op_type === 'ConvTranspose') ? convSpatialDims(ctx, producer) : undefined;
    const r = ranks.rankOf(bn.input?.[0] ?? '') ?? (convRank !== undefined ? convRank + 2 : undefined);
    if (r === 2 || r === 3) return 'BatchNorm1d';
    if (r === 4) return 'BatchNorm2d';
    if (r === 5) return 'BatchNorm3d';
    return '?the rank of its input is unknown, so BatchNorm1d/2d/3d cannot be told apart';
  }
  return `?its ops are ${[...ops].join(', ') || 'none'}`;
}

const nodeMaps = new WeakMap<GraphIndex, Map<string, NodeProto>>();

function nodeByName(index: GraphIndex, name: string): NodeProto | undefined {
  let map = nodeMaps.get(index);
  if (!map) {
    map = new Map();
    // The module tree lists nodes by scan's addresses (`Conv#0` for an unnamed node).
    for (const [n, address] of nodeAddresses(index.graph.node ?? [])) map.set(address, n as NodeProto);
    nodeMaps.set(index, map);
  }
  return map.get(name);
}

/** The Python text: the call for the safe groups, the left-out ones as comments. */
export function formatFuseList(list: FuseList, modelPath: string): string {
  // A comment line must stay one line: the path and the names in reasons come from the file system and the model.
  const lines = [`# fuse_modules groups for ${escapeControls(modelPath)} (found by ModelFuse scan)`];
  if (list.excluded.length) {
    lines.push('# Left out (not safe or not possible in PyTorch):');
    // A module the file does not name (an exporter-folded BatchNorm, a functional call) shows as `?`, not as a name.
    for (const e of list.excluded) lines.push(`#   [${e.modules.map((m) => (m === null ? '?' : pyStr(m))).join(', ')}]: ${escapeControls(e.reason)}`);
  }
  lines.push('# The model must be in eval mode (model.eval()) for fuse_modules to fold BatchNorm.');
  lines.push('import torch');
  if (list.groups.length === 0) {
    lines.push('# No group is safe to fuse.');
    lines.push('model = torch.ao.quantization.fuse_modules(model, [])');
  } else {
    lines.push('model = torch.ao.quantization.fuse_modules(model, [');
    for (const g of list.groups) lines.push(`    ${pyList(g.modules)},  # ${escapeControls(g.types.join(' + '))}`);
    lines.push('])');
  }
  return lines.join('\n') + '\n';
}

function pyList(items: string[]): string {
  return `[${items.map(pyStr).join(', ')}]`;
}

function pyStr(s: string): string {
  // Backslashes first, so the escapes escapeControls adds stay escapes in the Python literal.
  return `'${escapeControls(s.replace(/\\/g, '\\\\').replace(/'/g, "\\'"))}'`;
}
