/** `latency/measure`: median of N runs of one model at one ORT level (see ort/latency.ts). */
import { registerHandler } from '../registry';
import { measureLatency } from '../ort/latency';

registerHandler('latency/measure', (params, ctx) => measureLatency(params, ctx));
