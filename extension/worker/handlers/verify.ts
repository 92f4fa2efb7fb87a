/** `verify`: compare two models on the same inputs (see ort/verify.ts). */
import { registerHandler } from '../registry';
import { verifyModels } from '../ort/verify';

registerHandler('verify', (params, ctx) => verifyModels(params, ctx));
