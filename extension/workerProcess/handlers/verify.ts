/** `verify/run`: compare two models on the same inputs (see ort/verify.ts). */
import { registerHandler } from '../registry';
import { verifyModels } from '../ort/verify';

registerHandler('verify/run', (params, ctx) => verifyModels(params, ctx));
