/**
 * The summary of a model file that the worker computes and the host and the
 * overview webview show. Plain JSON (it crosses two postMessage hops): no
 * tensors, only counts, names and shapes — a 1 GB model's overview is a few
 * kilobytes.
 */
import { fusibility } from '../engine/fusion/fusibility';
import type { CandidateJson } from '../engine/fusion/candidate';
import type { ModuleTreeNode } from '../engine/graph/moduleTree';

export interface FileSummary {
  path: string;
  name: string;
  /** Size on disk of the model file itself (external data not included). */
  bytes: number;
}

/** A graph input or output. Dims are numbers, symbolic names (`batch`), or null when unknown. */
export interface ValueSummary {
  name: string;
  dtype: string;
  shape: (number | string | null)[] | null;
}

export interface ParameterSummary {
  /** Elements in all initializers (and Constant nodes' tensors). */
  count: number;
  bytes: number;
  tensors: number;
  /** Bytes stored in external data files. */
  externalBytes: number;
  /** Of `tensors`, those held in Constant nodes (paddle2onnx, tf2onnx); absent when none. */
  constantNodeTensors?: number;
}

export interface OperatorCount {
  /** `Conv`, or `com.microsoft::FusedConv` for other domains. */
  op: string;
  count: number;
}

/** The PyTorch module hierarchy the engine recovers (plain data; see engine/graph/moduleTree.ts). */
export type { ModuleTreeNode };

export interface OnnxOverview {
  kind: 'onnx';
  file: FileSummary;
  producer: { name: string; version: string };
  irVersion: number;
  opsets: { domain: string; version: number }[];
  graphName: string;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  parameters: ParameterSummary;
  nodeCount: number;
  /** Most frequent first. */
  operators: OperatorCount[];
  /** From the engine's scan; empty with `scanProblem` set when scanning failed. */
  candidates: CandidateJson[];
  scanProblem: string | null;
  modules: ModuleTreeNode | null;
  /** The `torch.ao.quantization.fuse_modules` call for the groups PyTorch can fuse safely (null when the scan failed). */
  fuseList: FuseListSummary | null;
}

export interface FuseListSummary {
  /** Python text: the call, with left-out groups as comments. */
  python: string;
  groups: string[][];
  excluded: { modules: (string | null)[]; reason: string }[];
}

export interface SafetensorsTensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  count: number;
  bytes: number;
}

export interface SafetensorsOverview {
  kind: 'safetensors';
  file: FileSummary;
  metadata: Record<string, string>;
  /** In file order (by data offset). */
  tensors: SafetensorsTensorSummary[];
  parameters: ParameterSummary;
  /** Elements per dtype, for the header line (`F32: 1.2 M`). */
  dtypes: { dtype: string; count: number; bytes: number }[];
  /** Set when the file looks like a PEFT LoRA adapter (keys with lora_A/lora_B). */
  loraAdapter: { layers: number; ranks: number[] } | null;
}

export type ModelOverview = OnnxOverview | SafetensorsOverview;

/** Progress while the worker reads a model: a phase name and, when known, a fraction in [0, 1]. */
export interface OverviewLoadProgress {
  message: string;
  fraction: number | null;
}

/**
 * A candidate the ONNX fuse can apply: not blocked, and it actually folds
 * something (grouping-only sequences such as conv-relu leave the graph as it
 * is — they matter only for PyTorch's fuse_modules). Shared-module warnings do
 * not block the ONNX fold: they concern the PyTorch module list.
 */
export function isFusibleInOnnx(c: CandidateJson): boolean {
  return fusibility(c).fusible;
}

/** Why `isFusibleInOnnx` is false, in words for a notification or a tooltip (the engine's fusibility); null when it is true. */
export function whyNotFusible(c: CandidateJson): string | null {
  return fusibility(c).reason;
}

/** How a candidate is named to users: its modules when known, else its node names. */
export function candidateLabel(c: CandidateJson): string {
  const names = c.modules.map((m, i) => m ?? c.nodes[i] ?? '?');
  return names.join(' → ');
}

/**
 * What a LoRA branch adds to its module's name, for the tree and the overview
 * table: `rank 4 · scale 2`, plus the adapter count when several are stacked
 * and DoRA when the branch rescales the base. Read from the scan's `details`
 * (which `scan --json` leaves out of its contract but the overview carries);
 * empty for other patterns and for details that are missing or malformed.
 */
export function loraBranchFacts(c: CandidateJson): string[] {
  const d = c.details;
  if (c.pattern !== 'lora-branch' || !d) return [];
  const facts: string[] = [];
  if (typeof d.rank === 'number' || typeof d.rank === 'string') facts.push(`rank ${d.rank}`);
  if (typeof d.scale === 'number' || typeof d.scale === 'string') facts.push(`scale ${d.scale}`);
  if (typeof d.adapters === 'number' && d.adapters > 1) facts.push(`${d.adapters} adapters`);
  if (d.dora === true) facts.push('DoRA');
  return facts;
}
