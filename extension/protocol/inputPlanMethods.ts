/**
 * `inputs/plan`: the input sizes a verification of a model would use, and
 * why (engine/stats/inputShapes.ts), for the "Verification Inputs…" picker
 * to show before anything runs: its parameter type (the method table is
 * workerMethods.ts). Types only.
 */

export type { InputShapePlan, InputShapeChoice } from '../engine/stats/inputShapeTypes';

export interface InputPlanParams {
  /** Absolute path of an ONNX model. */
  path: string;
  /** Shapes the user gave, by input name (the rest is chosen from the model). */
  shapes?: Record<string, number[]>;
}
