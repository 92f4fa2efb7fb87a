/**
 * Worker methods of the parameter-diff panel and the inspector view
 * (handlers in extension/workerProcess/handlers/paramDiff.ts): their parameter and
 * result types, named by the method table in workerMethods.ts. Types only: host and webviews import this without
 * pulling in the engine. Results are summaries; weights stay in the worker.
 */
import type { FoldRecord, LoraLayerRecord } from '../engine/stats/paramDiffTypes';

export type { ParamDiffSummary, FoldRecord, LoraLayerRecord } from '../engine/stats/paramDiffTypes';
export type { ModuleInspection, ParamStats } from '../engine/stats/moduleParamsTypes';

export interface ParamDiffParams {
  /** Absolute paths: the original (or base) and the fused (or merged) model; .onnx or .safetensors. */
  before: string;
  after: string;
  /** The fuse report's applied folds: pairs renamed tensors and adds BN scale/shift per channel. */
  folds?: FoldRecord[];
  /** The merge report's layers: adds rank, scale and effective rank per layer. */
  lora?: LoraLayerRecord[];
  /** Histogram bins (default 64). */
  bins?: number;
}

export interface InspectModuleParams {
  /** Absolute path of the model (.onnx or .safetensors). */
  path: string;
  /** Module path (`layer1.0.conv1`); '' for the tensors of no module. */
  module: string;
  bins?: number;
}
