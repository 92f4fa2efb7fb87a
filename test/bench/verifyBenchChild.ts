/**
 * One verify-bench measurement in a fresh process:
 *   ort-single MODEL       — one plain ONNX Runtime session (optimizations disabled) running MODEL once
 *   ort-sequence A B       — the same for A, released, then for B: the cost of running the two models
 *   verify A B RUNS WORKER — `modelfuse verify --runs RUNS`: one 'verify/run' request to the ORT worker
 * Prints one JSON line: { ms, cpuMs, maxRss (this process), workerCpuMs, workerMaxRss (or null) }.
 */
import { performance } from 'node:perf_hooks';
import { WorkerClient } from '../../extension/workerClient/client';
import { feedsOf, sessionInputs } from '../../extension/workerProcess/ort/tensors';
import { randomInputs } from '../../extension/engine/stats/inputs';
import '../../extension/workerProcess/handlers/verify'; // the 'verify/run' handler
import { peakRss, processCpuMs } from './floor';

async function runPlain(model: string): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const feeds = feedsOf(randomInputs(sessionInputs(session, model), { seed: 0 }).tensors);
  await session.run(feeds);
  await session.release();
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let workerCpuMs: number | null = null;
  let workerMaxRss: number | null = null;
  if (mode === 'ort-single') await runPlain(args[0]);
  else if (mode === 'ort-sequence') {
    await runPlain(args[0]);
    await runPlain(args[1]);
  } else if (mode === 'verify') {
    const client = new WorkerClient({ workerPath: args[3] });
    try {
      const report = await client.request('verify/run', { modelA: args[0], modelB: args[1], runs: Number(args[2]) });
      if (!report.passed) throw new Error('verify did not pass');
      const { pid } = await client.request('worker/ping', {});
      workerCpuMs = processCpuMs(pid);
      workerMaxRss = peakRss(pid);
    } finally {
      await client.dispose();
    }
  } else throw new Error(`unknown mode ${mode}`);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRss: peakRss(), workerCpuMs, workerMaxRss }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exit(1);
});
