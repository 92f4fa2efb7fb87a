/**
 * The summary of a model file that the worker computes and the host and the
 * overview webview show. Plain JSON (it crosses two postMessage hops): no
 * tensors, only counts, names and shapes — a 1 GB model's overview is a few
 * kilobytes.
 */
import type { CandidateView } from '../engine/fusion/candidateView';
import type { ModuleTreeNode } from '../engine/graph/moduleTreeNode';

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
export type { CandidateView, ModuleTreeNode };

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
  candidates: CandidateView[];
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
