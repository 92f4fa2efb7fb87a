/**
 * LoRA merge benchmark (issue 4): a generated ~2 GB safetensors base, 64
 * matrices 4096×4096 in float16, and a rank-16 PEFT adapter on all of them
 * (in .bench/lora/, regenerated only when missing). Each operation runs in a
 * fresh child process, so its peak RSS is its own:
 *   read+write   the files copied tensor by tensor, unchanged: the floor
 *   reference    a plain merge, W += s·B·A per tensor in a tight triple loop
 *   merge (js)   `modelfuse lora` with the blocked JS kernel
 *   merge (ort)  `modelfuse lora --matmul ort`: B·A by ONNX Runtime in the worker
 *   merge (ort in-process)  the same products by ONNX Runtime in the merging process, as the VS Code
 *                command's merge does inside the worker (no 64 MB product crosses the IPC channel)
 * Targets from issue 4: peak RSS < 1 GB; merge wall time ≤ 1.5× read+write.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { writeSafetensorsToFd, type SafetensorsWriteEntry } from '../../extension/engine/safetensors/safetensors';
import { float64ToHalfBits } from '../../extension/engine/lora/halfFloat';

const ROOT = path.resolve(__dirname, '../..');
const BENCH_DIR = path.join(ROOT, '.bench');
const DIR = path.join(BENCH_DIR, 'lora');
const LAYERS = 64;
const DIM = 4096;
const RANK = 16;
const VERSION = 1;

interface Measurement {
  ms: number;
  cpuMs: number;
  workerCpuMs: number | null;
  maxRss: number;
  tensors: number;
}

function buildChild(): string {
  const out = path.join(BENCH_DIR, 'loraBenchChild.js');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, 'loraBenchChild.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
    external: ['onnxruntime-node'],
  });
  return out;
}

/** xorshift noise, scaled like trained weights (≈ N(0, 0.02)). */
function noise(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 2 ** 32 - 0.5) * 0.07;
  };
}

function generate(): { base: string; adapter: string } {
  const base = path.join(DIR, 'base.safetensors');
  const adapter = path.join(DIR, 'adapter');
  const stamp = path.join(DIR, 'version.json');
  if (fs.existsSync(stamp) && JSON.parse(fs.readFileSync(stamp, 'utf8')).version === VERSION && fs.existsSync(base)) return { base, adapter };
  fs.mkdirSync(adapter, { recursive: true });
  console.log(`generating ${LAYERS} × ${DIM}×${DIM} float16 base (${((LAYERS * DIM * DIM * 2) / 2 ** 30).toFixed(2)} GiB) and a rank-${RANK} adapter in ${DIR} …`);
  // One random float16 matrix, each layer a rotated view of it: different numbers per layer without 64× the generation time.
  const rnd = noise(1);
  const pool = new Uint16Array(DIM * DIM + 4096);
  for (let i = 0; i < pool.length; i++) pool[i] = float64ToHalfBits(rnd());
  const entries: SafetensorsWriteEntry[] = [];
  for (let l = 0; l < LAYERS; l++) {
    entries.push({ name: `model.layers.${l}.proj.weight`, dtype: 'F16', shape: [DIM, DIM], bytes: () => new Uint8Array(pool.buffer, l * 64 * 2, DIM * DIM * 2) });
  }
  let fd = fs.openSync(base, 'w');
  writeSafetensorsToFd(fd, entries, { format: 'pt' });
  fs.closeSync(fd);
  const ad: SafetensorsWriteEntry[] = [];
  const f32 = (n: number, scale: number): Uint8Array => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rnd() * scale;
    return new Uint8Array(v.buffer);
  };
  for (let l = 0; l < LAYERS; l++) {
    ad.push({ name: `base_model.model.model.layers.${l}.proj.lora_A.weight`, dtype: 'F32', shape: [RANK, DIM], bytes: () => f32(RANK * DIM, 1) });
    ad.push({ name: `base_model.model.model.layers.${l}.proj.lora_B.weight`, dtype: 'F32', shape: [DIM, RANK], bytes: () => f32(DIM * RANK, 0.1) });
  }
  fd = fs.openSync(path.join(adapter, 'adapter_model.safetensors'), 'w');
  writeSafetensorsToFd(fd, ad, { format: 'pt' });
  fs.closeSync(fd);
  fs.writeFileSync(path.join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: RANK, lora_alpha: 32, target_modules: ['proj'] }));
  fs.writeFileSync(stamp, JSON.stringify({ version: VERSION }));
  return { base, adapter };
}

function measure(child: string, args: string[], out: string): Measurement {
  const r = spawnSync(process.execPath, [child, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  fs.rmSync(out, { force: true });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Measurement;
}

export async function runLoraBench(): Promise<void> {
  fs.mkdirSync(DIR, { recursive: true });
  const { base, adapter } = generate();
  const child = buildChild();
  const out = path.join(DIR, 'out.safetensors');
  const size = fs.statSync(base).size;
  console.log(`base ${base}: ${(size / 2 ** 30).toFixed(2)} GiB, ${LAYERS} tensors float16[${DIM}, ${DIM}]; adapter rank ${RANK} on all of them`);
  const rows: [string, Measurement][] = [];
  const run = (label: string, args: string[]): void => {
    const m = measure(child, args, out);
    rows.push([label, m]);
    const worker = m.workerCpuMs !== null ? ` + ${(m.workerCpuMs / 1000).toFixed(2)} s in the ORT worker` : '';
    console.log(`  ${label.padEnd(22)} ${(m.ms / 1000).toFixed(2).padStart(8)} s wall ${(m.cpuMs / 1000).toFixed(2).padStart(8)} s CPU${worker}   peak RSS ${(m.maxRss / 2 ** 20).toFixed(0).padStart(6)} MiB`);
  };
  run('read+write (floor)', ['readwrite', base, out]);
  run('merge (js kernel)', ['merge', base, adapter, out, 'js']);
  run('merge (ort worker)', ['merge', base, adapter, out, 'ort']);
  run('merge (ort in-process)', ['merge', base, adapter, out, 'inproc']);
  run('read+write again', ['readwrite', base, out]);
  run('reference tight loop', ['reference', base, adapter, out]);
  // The machine may be shared: the floor is measured before and after the merges, and the smaller one is used.
  const floor = Math.min(rows[0][1].ms, rows[4][1].ms);
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`\n  (wall times depend on the machine's other load; CPU times do not. Load average now: ${load}, on ${os.cpus().length} CPUs)`);
  for (const [label, m] of rows.filter(([l]) => !l.startsWith('read+write'))) {
    const ratio = m.ms / floor;
    const rssOk = m.maxRss < 2 ** 30;
    console.log(
      `  ${label.padEnd(22)} ${ratio.toFixed(2)}× read+write${label.startsWith('merge') ? ` (target ≤ 1.5×: ${ratio <= 1.5 ? 'met' : 'NOT met'}); peak RSS < 1 GiB: ${rssOk ? 'met' : 'NOT met'}` : ''}`,
    );
  }
}
