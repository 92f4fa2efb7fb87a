/** `optimize/run`: ONNX Runtime's offline optimization to a file (see ort/optimize.ts). */
import { registerHandler } from '../registry';
import { optimizeModel } from '../ort/optimize';

registerHandler('optimize/run', (params, ctx) => optimizeModel(params, ctx));
