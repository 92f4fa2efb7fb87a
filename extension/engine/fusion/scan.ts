/**
 * `scan`: the fusible sequences of a model. Runs every registered pattern
 * detector (patterns/index.ts), keeps the longest non-overlapping matches,
 * names the PyTorch modules of each (graph/moduleTree.ts) and warns about
 * groups that contain a module called from several places.
 *
 * Overlaps: among candidates that can be fused (not blocked), a node belongs
 * to at most one fold and to at most one fuse_modules group; the longer
 * sequence wins (conv-bn-relu over conv-bn and bn-relu), then the one that
 * folds, then the earlier family in the registry. A fold that is no PyTorch
 * group (matmul-add, conv-add, …) and a group that folds nothing (linear-relu)
 * do not compete: `fuse` applies the one, `fuse-list` lists the other (a
 * tf2onnx Dense + ReLU is MatMul + Add + Relu: the MatMul + Add still becomes
 * a Gemm). Blocked candidates are reported alongside so the user learns why
 * a longer sequence is not offered (e.g. conv-bn-relu blocked, bn-relu fine),
 * unless a fusable candidate already covers all their nodes.
 *
 * Shared initializers never block a fold: a fold only reads the BN / bias /
 * scale constants, and a weight that other nodes also read (tied weights, a
 * module called twice) is copied for the folded node rather than changed in
 * place. Scan reports such sharing in `details.sharedWeight` and a warning,
 * because the copy grows the model and unties the weight. A shared *module*
 * is different: it only matters for PyTorch's fuse_modules, and gets the
 * shared-module warning (and is left out of fuse-list).
 *
 * Scan reads no tensor data: shapes come from dims, so scanning a model with
 * gigabytes of external weights reads only the .onnx file.
 */
import * as fs from 'node:fs';
import type { OnnxModel } from '../onnx/model';
import type { onnx } from '../onnx/proto';
import { isFloatType } from '../onnx/dtypes';
import { externalRef } from '../onnx/externalData';
import { isExternal, tensorDims } from '../onnx/tensors';
import { GraphIndex } from '../graph/graphIndex';
import { buildModuleTree, type ModuleTree } from '../graph/moduleTree';
import { nodeAddresses } from '../graph/nodeAddress';
import type { Candidate } from './candidate';
import { sharedModuleWarning } from './warnings';
import { isWeightLike } from '../graph/constantWeights';
import { findExporterFoldedConvs, resolveFoldedBatchNorms, type ExporterFoldedConv, type StateDictReader } from '../graph/exporterFolds';
import { unnamedBatchNormReason } from './exporterFoldReason';
import { resolveFoldedFromPython, type PythonDefinition } from '../graph/pythonFolds';
import { PATTERN_DETECTORS } from './patterns/index';
import { Ranks } from './ranks';
import type { Node, PatternDetector, PatternMatch, ScanContext } from './scanContext';

export interface ModelSummary {
  /** The model's path as it was opened. */
  path: string;
  /** Version of the default ONNX opset. */
  opset: number;
  /** `producer_name producer_version`, e.g. "pytorch 2.11.0". */
  producer: string;
  /** Nodes of the main graph (not counting subgraphs and functions). */
  nodes: number;
  /** Initializers of the main graph. */
  initializers: number;
  /**
   * Elements of the floating-point weights (weights, biases, BatchNorm statistics): initializers and the
   * tensors of `Constant` nodes (paddle2onnx, tf2onnx, silero's If branches keep weights there), in
   * If/Loop/Scan bodies too.
   */
  parameters: number;
  /**
   * If/Loop/Scan bodies: scan looks for sequences in the main graph only. Each is listed with its node
   * count so that a model computing most of its work in a body is not reported as "nothing to fuse".
   */
  subgraphs: SubgraphSummary[];
  /** Bytes on disk: the .onnx file plus the external data files it references. */
  bytes: number;
}

export interface SubgraphSummary {
  /** The node owning it and the attribute (`If_3.then_branch`), nested bodies joined by `/`. */
  path: string;
  nodes: number;
  /** Why its sequences are not scanned. */
  notScanned: string;
}

export const SUBGRAPH_NOT_SCANNED =
  'sequences inside If/Loop/Scan bodies are not scanned: a fold there would have to rewrite the body and every value it reads from outside';

export interface ScanResult {
  model: ModelSummary;
  candidates: Candidate[];
}

/** Everything scan worked out: the result plus the module tree and graph index (the extension shows the tree). */
export interface ModelAnalysis {
  scan: ScanResult;
  tree: ModuleTree;
  index: GraphIndex;
  ranks: Ranks;
  /** Convs into which the exporter folded a BatchNorm (TorchScript eval export), with what the checkpoint said. */
  exporterFolds: ExporterFoldedConv[];
}

export interface AnalyzeOptions {
  detectors?: readonly PatternDetector[];
  /**
   * The PyTorch model's state dict, opened only when the exporter folded a
   * BatchNorm away (graph/exporterFolds.ts) so that it can be named.
   */
  checkpoint?: () => StateDictReader | undefined;
  /** The model's Python definition, analysed: names the folded BatchNorms the state dict did not (graph/pythonFolds.ts). */
  python?: PythonDefinition;
}

export function scanModel(model: OnnxModel, options: AnalyzeOptions = {}): ScanResult {
  return analyzeModel(model, options).scan;
}

export function analyzeModel(model: OnnxModel, options: AnalyzeOptions = {}): ModelAnalysis {
  const detectors = options.detectors ?? PATTERN_DETECTORS;
  const index = new GraphIndex(model.graph);
  const addresses = nodeAddresses(model.graph.node ?? []);
  let tree = buildModuleTree(model, index);
  const exporterFolded = findExporterFoldedConvs(model, index, addresses);
  const checkpoint = exporterFolded.size > 0 ? options.checkpoint?.() : undefined;
  if (checkpoint) {
    const convTree = tree;
    resolveFoldedBatchNorms(model, index, exporterFolded, (n) => convTree.moduleOf(n), checkpoint);
  }
  if (exporterFolded.size > 0 && options.python) resolveFoldedFromPython(exporterFolded, tree, options.python);
  const named = new Map([...exporterFolded.values()].filter((f) => f.batchNorm).map((f) => [f.node, f.batchNorm!]));
  if (named.size > 0) tree = buildModuleTree(model, index, { foldedBatchNorms: named });
  const ranks = new Ranks(model.graph, index);
  const ctx: ScanContext = {
    model,
    index,
    tree,
    ranks,
    exporterFolded,
    isAddressable: (n) => addresses.has(n),
  };
  const ranked: RankedMatch[] = [];
  detectors.forEach((d, family) => d.detect(ctx).forEach((m) => ranked.push({ m, family, seq: ranked.length })));
  const position = new Map((model.graph.node ?? []).map((n, i) => [n, i] as [Node, number]));
  const kept = resolveOverlaps(ranked).sort((a, b) => (position.get(a.nodes[0]) ?? 0) - (position.get(b.nodes[0]) ?? 0));

  const ids = new Set<string>();
  const candidates = kept.map((m) => toCandidate(m, tree, ids, addresses, exporterFolded));
  return { scan: { model: summarize(model, index, addresses), candidates }, tree, index, ranks, exporterFolds: [...exporterFolded.values()] };
}

interface RankedMatch {
  m: PatternMatch;
  family: number;
  seq: number;
}

function resolveOverlaps(all: RankedMatch[]): PatternMatch[] {
  const sorted = [...all].sort(
    (a, b) =>
      Number(a.m.blocked !== null) - Number(b.m.blocked !== null) ||
      b.m.nodes.length - a.m.nodes.length ||
      Number(b.m.folds) - Number(a.m.folds) ||
      a.family - b.family ||
      a.seq - b.seq,
  );
  // Node → the fusable candidate that claimed it, per consumer: `fuse` applies folds, `fuse-list` lists groups.
  const folds = new Map<Node, PatternMatch>();
  const groups = new Map<Node, PatternMatch>();
  const claims = (m: PatternMatch): Map<Node, PatternMatch>[] => {
    const isGroup = TORCH_GROUP_PATTERNS.has(m.pattern) || !m.folds;
    return [...(m.folds ? [folds] : []), ...(isGroup ? [groups] : [])];
  };
  const reported = new Set<Node>();
  const kept: PatternMatch[] = [];
  for (const { m } of sorted) {
    if (m.blocked === null) {
      const maps = claims(m);
      if (maps.some((owned) => m.nodes.some((n) => owned.has(n)))) continue;
      for (const owned of maps) m.nodes.forEach((n) => owned.set(n, m));
    } else {
      if (m.nodes.some((n) => reported.has(n))) continue;
      const owners = [folds.get(m.nodes[0]), groups.get(m.nodes[0])];
      if (owners.some((o) => o && m.nodes.every((n) => o.nodes.includes(n)))) continue;
      m.nodes.forEach((n) => reported.add(n));
    }
    kept.push(m);
  }
  return kept;
}

function toCandidate(
  m: PatternMatch,
  tree: ModuleTree,
  ids: Set<string>,
  addresses: Map<Node, string>,
  exporterFolded: Map<string, ExporterFoldedConv>,
): Candidate {
  const names = m.nodes.map((n) => addresses.get(n) ?? n.name ?? '');
  let modules = m.modules ?? moduleGroup(names, tree);
  let pattern = m.pattern;
  const details = m.details ? { ...m.details } : undefined;
  // A Conv that already absorbed its BatchNorm, followed by a Relu: in PyTorch terms conv+bn+relu. When the
  // checkpoint did not name the BatchNorm (or none was given), its place in the group is unknown: null.
  const folded = exporterFolded.get(names[0]);
  if (pattern === 'conv-relu' && (tree.modulesOf(names[0]).length > 1 || folded)) {
    pattern = 'conv-bn-relu';
    if (details) {
      details.foldedByExporter = true;
      if (folded && !folded.batchNorm) details.unnamedBatchNorm = unnamedBatchNormReason(folded, modules[0], modules[1]);
    }
    if (folded && !folded.batchNorm) modules = [modules[0], null, ...modules.slice(1)];
  }
  const warnings = [...(m.warnings ?? [])];
  // The shared-module trap is fuse_modules'; ONNX-level folds (conv-add, matmul-add, lora-branch) do not replace modules.
  if (TORCH_GROUP_PATTERNS.has(pattern)) for (const mod of new Set(modules)) {
    if (mod === null) continue;
    const sites = tree.callSites(mod);
    if (sites.length > 1) warnings.push(sharedModuleWarning(mod, sites));
  }
  let id = `${pattern}:${names[0]}`;
  for (let k = 2; ids.has(id); k++) id = `${pattern}:${names[0]}#${k}`;
  ids.add(id);
  return { id, pattern, nodes: names, modules, folds: m.folds, blocked: m.blocked, warnings, ...(details ? { details } : {}) };
}

/**
 * The PyTorch module group of a sequence: each node's modules in order
 * (a dynamo Conv with its BN folded in stands for two), consecutive repeats
 * collapsed (a Linear exported as MatMul + Add is one module), null for a
 * node with no recoverable module.
 */
export function moduleGroup(nodeNames: string[], tree: ModuleTree): (string | null)[] {
  const out: (string | null)[] = [];
  for (const n of nodeNames) {
    const mods = tree.modulesOf(n);
    if (mods.length === 0) out.push(null);
    for (const mod of mods) if (out[out.length - 1] !== mod) out.push(mod);
  }
  return out;
}

const TORCH_GROUP_PATTERNS = new Set<string>(['conv-bn', 'conv-bn-relu', 'conv-relu', 'linear-relu', 'bn-relu', 'linear-bn', 'convtranspose-bn']);

export { isSharedModuleWarning, sharedModuleWarning } from './warnings';

function summarize(model: OnnxModel, index: GraphIndex, addresses: Map<Node, string>): ModelSummary {
  const p = model.proto;
  let parameters = 0;
  const externalFiles = new Set<string>();
  const subgraphs: SubgraphSummary[] = [];
  const countGraph = (g: onnx.IGraphProto, prefix: string, depth: number): void => {
    for (const t of g.initializer ?? []) {
      if (isFloatType(t.data_type ?? 0)) parameters += tensorDims(t).reduce((a, b) => a * b, 1);
      const ref = isExternal(t) ? externalRef(t) : undefined;
      if (ref) externalFiles.add(model.external.resolve(ref.location, t.name ?? ''));
    }
    (g.node ?? []).forEach((n, i) => {
      for (const a of n.attribute ?? []) {
        // Which Constants are weights (not a Reshape target or an epsilon) is graph/constantWeights.ts's rule, as in the overview.
        if (n.op_type === 'Constant' && a.t && isFloatType(a.t.data_type ?? 0) && isWeightLike(a.t)) parameters += tensorDims(a.t).reduce((x, y) => x * y, 1);
        if (n.op_type === 'Constant' && a.name === 'value_floats' && (a.floats ?? []).length >= 2) parameters += (a.floats ?? []).length;
        const owner = depth === 0 ? (addresses.get(n) ?? n.name ?? '') : n.name || `${n.op_type}#${i}`;
        for (const body of [a.g, ...(a.graphs ?? [])]) {
          if (!body || depth >= 16) continue;
          const path = `${prefix}${owner}.${a.name}`;
          subgraphs.push({ path, nodes: (body.node ?? []).length, notScanned: SUBGRAPH_NOT_SCANNED });
          countGraph(body, `${path}/`, depth + 1);
        }
      }
    });
  };
  countGraph(model.graph, '', 0);
  let bytes = model.fileSize;
  for (const f of externalFiles) bytes += fileSize(f);
  return {
    path: model.path,
    opset: model.opset(),
    producer: `${p.producer_name ?? ''} ${p.producer_version ?? ''}`.trim(),
    nodes: (model.graph.node ?? []).length,
    initializers: index.initializers.size,
    parameters,
    bytes,
    subgraphs,
  };
}

/** Size of an external data file; 0 if it vanished since loading (the size is informative only). */
function fileSize(f: string): number {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}
