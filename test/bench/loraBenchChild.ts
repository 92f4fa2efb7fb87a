/**
 * One LoRA-bench measurement in a fresh process (so its peak RSS is its own):
 *   readwrite BASE OUT            — read every tensor and write it to OUT, unchanged (the floor of issue 4)
 *   stream-copy BASE OUT          — the base's files copied through one reused buffer (the floor of issue 17)
 *   reference BASE ADAPTER OUT    — a plain merge: per tensor, decode, W[i,j] += s·Σₖ B[i,k]·A[k,j] in a
 *                                   tight triple loop, encode, write (what one writes without thinking about speed)
 *   merge BASE ADAPTER OUT MODE — `modelfuse lora` with MODE:
 *       js       buildPlan + mergeLora here with the JavaScript kernel (`--matmul js`)
 *       worker   one `lora/merge` request: the whole merge in the ORT worker, each tensor one ORT graph
 *                (`--matmul ort`, and `auto` for big products)
 *       inproc   the same fused ORT graph in this process (no worker: shows what the IPC and second process cost)
 *       ort-ipc  mergeLora here, only the B·A products by ORT's MatMul in the worker (the previous CLI path)
 * Prints one JSON line: { ms, cpuMs (this process), workerCpuMs (the worker, or null), maxRss (bytes, this process),
 * workerMaxRss (bytes, the worker's VmHWM from /proc, or null), tensors }.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile, writeSafetensorsToFd, safetensorsDtypeToOnnx } from '../../extension/engine/safetensors/safetensors';
import { decodeFloatTensor, encodeFloatTensor } from '../../extension/engine/lora/halfFloat';
import { buildPlan, assertPlanUsable } from '../../extension/engine/lora/plan';
import { mergeLora } from '../../extension/engine/lora/merge';
import { FusedMergeBackend, JsMatmulBackend, WorkerMatmulBackend, type MatmulBackend } from '../../extension/engine/lora/matmulBackend';
import { WorkerClient } from '../../extension/workerClient/client';
import { matmulInWorker } from '../../extension/workerClient/api';
import { matmulF32 } from '../../extension/workerProcess/ort/ortMatmul';
import { ortFusedMerge } from '../../extension/workerProcess/ort/loraMergeGraph';
import { peakRss, processCpuMs, streamingCopy } from './floor';

/** The base's files (a sharded base: its index and every shard) copied through one reused buffer: the floor. */
function streamCopySafetensors(base: string, out: string): number {
  if (!base.endsWith('.json')) {
    streamingCopy([[base, out]]);
    if (!base.endsWith('.safetensors')) return 0; // an .onnx or its .data file: bytes only
    const f = SafetensorsFile.open(base);
    f.close();
    return f.entries.size;
  }
  const index = JSON.parse(fs.readFileSync(base, 'utf8')) as { weight_map: Record<string, string> };
  const shards = [...new Set(Object.values(index.weight_map))];
  const dir = path.dirname(out);
  streamingCopy([[base, out], ...shards.map((s) => [path.join(path.dirname(base), s), path.join(dir, s)] as const)]);
  return Object.keys(index.weight_map).length;
}

function copyAll(base: string, out: string, transform?: (name: string, bytes: Buffer, dtype: number, shape: number[]) => Uint8Array): number {
  const f = SafetensorsFile.open(base);
  const fd = fs.openSync(out, 'w');
  try {
    const entries = [...f.entries.values()].sort((a, b) => a.begin - b.begin);
    writeSafetensorsToFd(
      fd,
      entries.map((e) => ({
        name: e.name,
        dtype: e.dtype,
        shape: e.shape,
        bytes: () => (transform ? transform(e.name, f.readBytes(e.name), safetensorsDtypeToOnnx(e.dtype), e.shape) : f.readBytes(e.name)),
      })),
      f.metadata,
    );
    return entries.length;
  } finally {
    fs.closeSync(fd);
    f.close();
  }
}

function referenceMerge(base: string, adapterDir: string, out: string): number {
  const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
  const s = cfg.lora_alpha / cfg.r;
  const ad = SafetensorsFile.open(path.join(adapterDir, 'adapter_model.safetensors'));
  try {
    return copyAll(base, out, (name, bytes, dtype, shape) => {
      const mod = name.replace(/\.weight$/, '');
      const aKey = `base_model.model.${mod}.lora_A.weight`;
      if (!ad.entries.has(aKey)) return bytes;
      const A = Float32Array.from(ad.readFloat64(aKey));
      const B = Float32Array.from(ad.readFloat64(`base_model.model.${mod}.lora_B.weight`));
      const [m, n] = shape;
      const k = A.length / n;
      const W = decodeFloatTensor(bytes, dtype, m * n);
      const merged = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let t = 0; t < k; t++) acc += B[i * k + t] * A[t * n + j];
          merged[i * n + j] = W[i * n + j] + s * acc;
        }
      }
      return encodeFloatTensor(merged, dtype);
    });
  } finally {
    ad.close();
  }
}

let workerCpuMs: number | null = null;
let workerMaxRss: number | null = null;

async function engineMerge(base: string, adapterDir: string, out: string, which: string): Promise<number> {
  if (which === 'worker') return workerMerge(base, adapterDir, out);
  const plan = buildPlan(base, [{ path: adapterDir, weight: 1 }]);
  let client: WorkerClient | undefined;
  try {
    assertPlanUsable(plan, false);
    let backend: MatmulBackend = new JsMatmulBackend();
    if (which === 'inproc') backend = new FusedMergeBackend(matmulF32, ortFusedMerge);
    if (which === 'ort-ipc') {
      const c = new WorkerClient({ workerPath: WORKER });
      client = c;
      backend = new WorkerMatmulBackend((a, b, m, k, n) => matmulInWorker(c, a, b, m, k, n));
    }
    const report = await mergeLora(plan, out, { backend, force: true });
    if (client) await readWorkerStats(client);
    return report.merged.length;
  } finally {
    plan.close();
    await client?.dispose();
  }
}

/** What `modelfuse lora --matmul ort` does: the whole merge is one `lora/merge` request to the worker. */
async function workerMerge(base: string, adapterDir: string, out: string): Promise<number> {
  const client = new WorkerClient({ workerPath: WORKER });
  try {
    const report = await client.request('lora/merge', { base, adapters: [{ path: path.resolve(adapterDir), weight: 1 }], output: path.resolve(out), force: true });
    await readWorkerStats(client);
    return report.merged.length;
  } finally {
    await client.dispose();
  }
}

async function readWorkerStats(client: WorkerClient): Promise<void> {
  const { pid } = await client.request('worker/ping', {});
  workerCpuMs = processCpuMs(pid);
  workerMaxRss = peakRss(pid);
}

/** The worker bundle loraBench.ts builds next to this child (not dist/, which may be stale). */
const WORKER = path.join(__dirname, 'loraBenchWorker.js');

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let tensors: number;
  if (mode === 'readwrite') tensors = copyAll(args[0], args[1]);
  else if (mode === 'stream-copy') tensors = streamCopySafetensors(args[0], args[1]);
  else if (mode === 'reference') tensors = referenceMerge(args[0], args[1], args[2]);
  else if (mode === 'merge') tensors = await engineMerge(args[0], args[1], args[2], args[3] ?? 'js');
  else throw new Error(`unknown mode ${mode}`);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, workerCpuMs, maxRss: peakRss() ?? process.resourceUsage().maxRSS * 1024, workerMaxRss, tensors }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exit(1);
});
