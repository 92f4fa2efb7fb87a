/**
 * One fuse-bench measurement in a fresh process (so peak RSS is this
 * operation's alone). Modes:
 *   stream-copy IN OUT — IN copied to OUT through one reused buffer: the physical floor of any rewrite
 *   readwrite IN OUT  — readFileSync IN + writeFileSync OUT (the whole file in memory once)
 *   fuse IN OUT       — fuseModelFile: load + scan + fold + atomic save, exactly `modelfuse fuse`
 *   ort-basic IN OUT  — ONNX Runtime session at `basic` with optimizedModelFilePath = OUT
 * Prints one JSON line: wall time, CPU time (user + system, all threads),
 * peak RSS (VmHWM), RSS before starting, and for fuse the time of each phase.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { saveModel } from '../../extension/engine/onnx/save';
import { scanModel } from '../../extension/engine/fusion/scan';
import { fuseCandidates, fuseModelFile } from '../../extension/engine/fusion/fuse';

import { peakRss, streamingCopy } from './floor';

async function main(): Promise<void> {
  const [mode, input, output] = process.argv.slice(2);
  const rssBefore = process.memoryUsage().rss;
  const phases: Record<string, number> = {};
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let applied = 0;
  if (mode === 'stream-copy') {
    streamingCopy([[input, output]]);
  } else if (mode === 'readwrite') {
    fs.writeFileSync(output, fs.readFileSync(input));
  } else if (mode === 'fuse') {
    applied = (await fuseModelFile(input, output, { force: true })).applied.length;
  } else if (mode === 'fuse-phases') {
    // The same work as fuseModelFile (weights on demand), timed phase by phase.
    let t = performance.now();
    let c = process.cpuUsage();
    const lap = (name: string): void => {
      const now = performance.now();
      const used = process.cpuUsage(c);
      phases[name] = now - t;
      phases[`${name} CPU`] = (used.user + used.system) / 1000;
      t = now;
      c = process.cpuUsage();
    };
    const model = OnnxModel.load(input, { weights: 'on-demand' });
    lap('load');
    const { candidates } = scanModel(model);
    lap('scan');
    applied = fuseCandidates(model, candidates).applied.length;
    lap('fold');
    await saveModel(model, output, { force: true });
    lap('save');
    model.close();
  } else if (mode === 'ort-basic') {
    // Required lazily so the other modes do not pay for loading the native module.
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(input, { graphOptimizationLevel: 'basic', optimizedModelFilePath: output, intraOpNumThreads: 1 });
    await session.release();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // CPU time next to wall time: on a shared machine the wall clock also measures the neighbours.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(JSON.stringify({ ms, cpuMs, maxRss: peakRss() ?? process.resourceUsage().maxRSS * 1024, rssBefore, applied, phases }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exit(1);
});
