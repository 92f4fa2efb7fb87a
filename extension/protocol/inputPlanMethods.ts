/**
 * `ext.inputPlan`: the input sizes a verification of a model would use, and
 * why (engine/stats/inputShapes.ts), for the "Verification Inputs…" picker
 * to show before anything runs. Types only.
 */
import type { InputShapePlan } from '../engine/stats/inputShapeTypes';

export type { InputShapePlan, InputShapeChoice } from '../engine/stats/inputShapeTypes';

export interface InputPlanParams {
  /** Absolute path of an ONNX model. */
  path: string;
  /** Shapes the user gave, by input name (the rest is chosen from the model). */
  shapes?: Record<string, number[]>;
}

declare module './workerProtocol' {
  interface WorkerMethods {
    'ext.inputPlan': { params: InputPlanParams; result: InputShapePlan };
  }
}
