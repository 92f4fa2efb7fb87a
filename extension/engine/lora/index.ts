/**
 * The LoRA merge API for front ends (CLI, VS Code command) and other engine
 * code (the LoRA-branch graph fold reuses the config and scale rules):
 *
 *   const plan = buildPlan(base, [parseAdapterSpec('adapter_dir=0.7')], { scale, mapPath, shared });
 *   try {
 *     assertPlanUsable(plan, allowUnmatched);          // throws one ModelFuseError listing every problem
 *     const report = await mergeLora(plan, out, { force, backend, cancel, onProgress });
 *   } finally {
 *     plan.close();
 *   }
 */
export { parseLoraConfig, defaultLoraConfig, moduleScale, patternKey, type LoraConfig, type ModuleScale } from './adapterConfig';
export { loadAdapter, parseAdapterSpec, type AdapterModule, type AdapterSpec, type LoadedAdapter, type AdapterFormat, type TensorRef } from './adapterFormats';
export { buildPlan, assertPlanUsable, baseKindOf, type LoraPlan, type PlanPair, type PlanOptions, type SharedPolicy, type UnmatchedModule } from './plan';
export { mergeLora, productWork, type MergeOptions, type MergeReport, type MergedRow } from './merge';
export { JsMatmulBackend, WorkerMatmulBackend, type MatmulBackend, type MatmulFn } from './matmulBackend';
export { mergeTerms, productOperands, type LoraTerm, type MergedTensor } from './delta';
export { findWeightUses, matchOnnx, type WeightUse } from './onnxTargets';
export { SafetensorsBase, matchSafetensors } from './safetensorsTargets';
export type { DeltaKind, TargetMatch, TargetResolution, ModuleRequest } from './targetTypes';
