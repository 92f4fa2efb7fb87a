/** `latency`: median of N runs of one model at one ORT level (see ort/latency.ts). */
import { registerHandler } from '../registry';
import { measureLatency } from '../ort/latency';

registerHandler('latency', (params, ctx) => measureLatency(params, ctx));
