/**
 * The inputs of one verification, and what they are worth: seeded random
 * tensors at shapes chosen from the model (inputShapes.ts), or the tensors of
 * a `.safetensors` / `.npy` file; the description every report prints (shape,
 * dtype, where each size came from, seed or file); and the reasons the check
 * would be weak at these shapes. The worker adds the reasons only the run can
 * tell (an output constant for this input).
 */
import { OnnxModel } from '../onnx/model';
import { ModelFuseError } from '../errors';
import { SafetensorsFile } from '../safetensors/safetensors';
import { checkShapeNames, inputsFromNpy, inputsFromSafetensors, randomInputs, type ModelInputSpec, type PreparedInputs } from './inputs';
import { planInputShapes, planShapes } from './inputShapes';
import { spatialWeakness } from './weakCheck';

export interface VerifyInputOptions {
  inputs?: string;
  shapes?: Record<string, number[]>;
  intRange?: [number, number];
  seed?: number;
}

export interface VerifyInputs extends PreparedInputs {
  /** Why a match at these inputs proves little (empty when nothing was found). */
  weak: string[];
}

export function prepareVerifyInputs(modelPath: string, specs: readonly ModelInputSpec[], o: VerifyInputOptions): VerifyInputs {
  let model: OnnxModel;
  try {
    model = OnnxModel.load(modelPath, { weights: 'on-demand' });
  } catch (err) {
    // ONNX Runtime opened the model but our reader did not: verify at the plain shapes and say the sizes were not chosen from the model.
    if (o.inputs !== undefined) return { ...inputsFromFile(o.inputs, specs), weak: [] };
    const why = err instanceof Error ? err.message : String(err);
    return { ...randomInputs(specs, { seed: o.seed, intRange: o.intRange, shapes: o.shapes }), weak: [`the input sizes could not be chosen from the model (${why}); dynamic dimensions are 1`] };
  }
  try {
    const prepared = o.inputs !== undefined ? inputsFromFile(o.inputs, specs) : randomAtPlannedShapes(model, specs, o);
    const shapes = Object.fromEntries(prepared.tensors.map((t) => [t.name, t.dims]));
    return { ...prepared, weak: spatialWeakness(model, shapes) };
  } finally {
    model.close();
  }
}

function inputsFromFile(filePath: string, specs: readonly ModelInputSpec[]): PreparedInputs {
  if (/\.npy$/i.test(filePath)) return inputsFromNpy(filePath, specs);
  if (!/\.safetensors$/i.test(filePath)) throw new ModelFuseError(`${filePath}: inputs must be a .safetensors file (one tensor per input name) or a .npy file (a single-input model)`);
  const file = SafetensorsFile.open(filePath);
  try {
    return inputsFromSafetensors(file, specs);
  } finally {
    file.close();
  }
}

function randomAtPlannedShapes(model: OnnxModel, specs: readonly ModelInputSpec[], o: VerifyInputOptions): PreparedInputs {
  const given = o.shapes ?? {};
  checkShapeNames(specs, given);
  const plan = planInputShapes(model, specs, given);
  const prepared = randomInputs(specs, { seed: o.seed, intRange: o.intRange, shapes: planShapes(plan) });
  for (const c of plan.inputs) {
    const d = prepared.description.tensors[c.name];
    if (d) Object.assign(d, { declared: [...c.declared], shape_from: c.how });
  }
  if (plan.totalStride.some((x) => x > 1)) prepared.description.total_stride = plan.totalStride;
  if (plan.guessed.length) prepared.description.guessed = plan.guessed;
  return prepared;
}
