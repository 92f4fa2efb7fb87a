/**
 * When "the outputs match" proves little: two models that agree on an input
 * their layers cannot see, or on an output that does not depend on the input,
 * would agree however wrong the fold was. Verification reports such a check
 * as "weak", with the reason, instead of "verified":
 *  - a Conv or pooling window larger than its input (a 1×1 map under a 3×3
 *    kernel sees mostly padding: a wrong weight outside the centre tap, or a
 *    wrong padding rule, cannot show);
 *  - an output that is constant (all zeros included) for the chosen input.
 */
import type { OnnxModel } from '../onnx/model';
import { propagateShapes, type SpatialUse } from './shapePropagation';

/** The reasons a check at these input shapes is weak (empty: nothing found). */
export function spatialWeakness(model: OnnxModel, shapes: Readonly<Record<string, readonly number[]>>): string[] {
  const { windows } = propagateShapes(model, shapes);
  if (windows.length === 0) return [];
  const first = windows[0];
  const more = windows.length > 1 ? ` (and ${windows.length - 1} more node${windows.length === 2 ? '' : 's'})` : '';
  return [`${describeWindow(first)}${more}: at this input size the layers see mostly padding`];
}

function describeWindow(w: SpatialUse): string {
  return `${w.op} '${w.node}' gets a ${w.input.join('×')} input under a ${w.kernel.join('×')} window`;
}

/** Why an output proves nothing about the model for this input, or null. */
export function constantOutputReason(name: string, values: ArrayLike<number>): string | null {
  if (values.length === 0) return `output '${name}' is empty`;
  const first = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] !== first && !(Number.isNaN(values[i]) && Number.isNaN(first))) return null;
  }
  if (values.length === 1) return null; // a scalar output (a loss, a score) is legitimately one number
  return first === 0 ? `output '${name}' is all zeros for this input` : `output '${name}' is constant (${first}) for this input`;
}
