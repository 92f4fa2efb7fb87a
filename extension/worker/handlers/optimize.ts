/** `optimize`: ONNX Runtime's offline optimization to a file (see ort/optimize.ts). */
import { registerHandler } from '../registry';
import { optimizeModel } from '../ort/optimize';

registerHandler('optimize', (params, ctx) => optimizeModel(params, ctx));
