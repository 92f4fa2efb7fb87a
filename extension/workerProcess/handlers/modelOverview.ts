/**
 * Builds the overview of a model file (what the custom editor shows) from the
 * engine's loaded model. Runs in the worker: loading a large model and
 * counting its parameters must not block the extension host. Pure — no
 * `vscode`, no onnxruntime — so it is unit-tested directly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OnnxModel } from '../../engine/onnx/model';
import { toNumber, type onnx } from '../../engine/onnx/proto';
import { dtypeName } from '../../engine/onnx/dtypes';
import { expectedByteLength, isExternal, tensorElementCount } from '../../engine/onnx/tensors';
import type { SafetensorsFile } from '../../engine/safetensors/safetensors';
import type { CandidateView } from '../../engine/fusion/candidateView';
import { constantNodeWeights, subgraphInitializers } from '../../engine/graph/constantWeights';
import type {
  FileSummary,
  FuseListSummary,
  ModuleTreeNode,
  OnnxOverview,
  OperatorCount,
  ParameterSummary,
  SafetensorsOverview,
  SafetensorsTensorSummary,
  ValueSummary,
} from '../../protocol/modelOverview';

export function fileSummary(filePath: string): FileSummary {
  return { path: filePath, name: path.basename(filePath), bytes: fs.statSync(filePath).size };
}

/** What the engine's scan contributes; null members when it has not run or failed. */
export interface ScanContribution {
  candidates: CandidateView[];
  modules: ModuleTreeNode | null;
  fuseList: FuseListSummary | null;
  problem: string | null;
}

export function onnxOverview(model: OnnxModel, scan: ScanContribution): OnnxOverview {
  const g = model.graph;
  const initializerNames = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  return {
    kind: 'onnx',
    file: fileSummary(model.path),
    producer: { name: model.proto.producer_name ?? '', version: model.proto.producer_version ?? '' },
    irVersion: toNumber(model.proto.ir_version),
    opsets: (model.proto.opset_import ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: toNumber(o.version) })),
    graphName: g.name ?? '',
    // Before IR 4 exporters listed initializers as graph inputs too; they are weights, not inputs.
    inputs: (g.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map(valueSummary),
    outputs: (g.output ?? []).map(valueSummary),
    parameters: onnxParameters(g),
    nodeCount: (g.node ?? []).length,
    operators: operatorHistogram(g.node ?? []),
    candidates: scan.candidates,
    scanProblem: scan.problem,
    modules: scan.modules,
    fuseList: scan.fuseList,
  };
}

export function valueSummary(v: onnx.IValueInfoProto): ValueSummary {
  const tensor = v.type?.tensor_type;
  if (!tensor) {
    const kind = v.type ? Object.keys(v.type).find((k) => k.endsWith('_type')) ?? 'unknown' : 'unknown';
    return { name: v.name ?? '', dtype: kind.replace(/_type$/, ''), shape: null };
  }
  const shape = tensor.shape
    ? (tensor.shape.dim ?? []).map((d) => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? toNumber(d.dim_value) : null))
    : null;
  return { name: v.name ?? '', dtype: dtypeName(tensor.elem_type ?? 0), shape };
}

/** Initializers (also those of If/Loop bodies) and the weights paddle2onnx / tf2onnx keep in Constant nodes. */
export function onnxParameters(graph: onnx.IGraphProto): ParameterSummary {
  const initializers = [...(graph.initializer ?? []), ...subgraphInitializers(graph)];
  const constants = constantNodeWeights(graph).map((c) => c.tensor);
  let count = 0;
  let bytes = 0;
  let externalBytes = 0;
  for (const t of [...initializers, ...constants]) {
    count += tensorElementCount(t);
    const b = expectedByteLength(t) ?? 0;
    bytes += b;
    if (isExternal(t)) externalBytes += b;
  }
  return {
    count,
    bytes,
    tensors: initializers.length + constants.length,
    externalBytes,
    ...(constants.length ? { constantNodeTensors: constants.length } : {}),
  };
}

/** Operator counts, most frequent first, ties by name; other domains are prefixed (`com.microsoft::Gelu`). */
export function operatorHistogram(nodes: readonly onnx.INodeProto[]): OperatorCount[] {
  const counts = new Map<string, number>();
  for (const n of nodes) {
    const domain = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::` : '';
    const op = `${domain}${n.op_type ?? '?'}`;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  return [...counts].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

export function safetensorsOverview(file: SafetensorsFile): SafetensorsOverview {
  const entries = [...file.entries.values()].sort((a, b) => a.begin - b.begin);
  const tensors: SafetensorsTensorSummary[] = entries.map((e) => ({
    name: e.name,
    dtype: e.dtype,
    shape: e.shape,
    count: e.shape.reduce((a, b) => a * b, 1),
    bytes: e.end - e.begin,
  }));
  const byDtype = new Map<string, { count: number; bytes: number }>();
  for (const t of tensors) {
    const d = byDtype.get(t.dtype) ?? { count: 0, bytes: 0 };
    d.count += t.count;
    d.bytes += t.bytes;
    byDtype.set(t.dtype, d);
  }
  return {
    kind: 'safetensors',
    file: fileSummary(file.path),
    metadata: file.metadata,
    tensors,
    parameters: {
      count: tensors.reduce((a, t) => a + t.count, 0),
      bytes: tensors.reduce((a, t) => a + t.bytes, 0),
      tensors: tensors.length,
      externalBytes: 0,
    },
    dtypes: [...byDtype].map(([dtype, v]) => ({ dtype, ...v })).sort((a, b) => b.bytes - a.bytes || a.dtype.localeCompare(b.dtype)),
    loraAdapter: loraAdapterShape(tensors),
  };
}

/**
 * Recognises a PEFT-style adapter by its `lora_A` / `lora_B` keys; the rank of
 * each layer is lora_A's first dimension (out of r × in). Kohya-style names
 * (`lora_down`) count too.
 */
export function loraAdapterShape(tensors: readonly SafetensorsTensorSummary[]): SafetensorsOverview['loraAdapter'] {
  const ranks: number[] = [];
  for (const t of tensors) {
    if (/\.(lora_A|lora_down)(\.[^.]+)?\.weight$/.test(t.name) && t.shape.length >= 2) ranks.push(t.shape[0]);
  }
  if (ranks.length === 0) return null;
  return { layers: ranks.length, ranks: [...new Set(ranks)].sort((a, b) => a - b) };
}

