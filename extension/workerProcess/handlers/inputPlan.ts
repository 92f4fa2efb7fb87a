/** `inputs/plan`: the input sizes a verification would choose for a model (no ONNX Runtime needed). */
import { ModelFuseError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { graphInputSpecs, planInputShapes } from '../../engine/stats/inputShapes';
import { registerHandler } from '../registry';

registerHandler('inputs/plan', async (params) => {
  if (typeof params?.path !== 'string' || params.path === '') throw new ModelFuseError('inputs/plan: no model path');
  const model = OnnxModel.load(params.path, { weights: 'on-demand' });
  try {
    return planInputShapes(model, graphInputSpecs(model.graph), params.shapes ?? {});
  } finally {
    model.close();
  }
});
