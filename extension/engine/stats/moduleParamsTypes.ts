/**
 * What inspecting a module's parameters reports (moduleParams.ts computes it;
 * the inspector and the graph's node panel show it). Plain data, no Node.
 */
export const MAX_INSPECTED_TENSORS = 64;

export interface ParamStats {
  name: string;
  /** The module owning it (the inspected one or a submodule). */
  module: string | null;
  shape: number[];
  dtype: string;
  elements: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  l2: number;
  zeros: number;
  nonFinite: number;
  histogram: { min: number; max: number; counts: number[] };
}

export interface ModuleInspection {
  path: string;
  module: string;
  tensors: ParamStats[];
  /** Tensors of the module and its submodules that were left out (over MAX_INSPECTED_TENSORS). */
  omitted: number;
  parameters: number;
}
