/**
 * Test-only methods, registered only when the worker runs with
 * MODELFUSE_WORKER_DEBUG=1: `debug/crash` kills the process the way a native
 * crash in ONNX Runtime would (abort → SIGABRT), `debug/sleep` is a long
 * request that honours cancel between steps.
 */
import { WORKER_DEBUG_ENV } from '../../protocol/workerProtocol';
import { registerHandler } from '../registry';

if (process.env[WORKER_DEBUG_ENV] === '1') {
  registerHandler('debug/crash', ({ how }) => {
    if (how === 'exit') process.exit(70);
    process.abort();
  });
  registerHandler('debug/sleep', async ({ ms, steps = 10 }, ctx) => {
    const step = ms / steps;
    for (let i = 0; i < steps; i++) {
      ctx.throwIfCancelled();
      ctx.progress(`sleeping (${i + 1}/${steps})`, i, steps);
      await new Promise((r) => setTimeout(r, step));
    }
    ctx.throwIfCancelled();
    return { slept: ms };
  });
}
