/**
 * LoRA merge benchmark (issues 4 and 17): a generated 1 GiB safetensors base, 32
 * matrices 4096×4096 in float16, and a rank-16 PEFT adapter on all of them
 * (in .bench/lora/, regenerated only when missing). Each operation runs in a
 * fresh child process, so its peak RSS is its own (and a worker's is read from
 * /proc/<pid>/status VmHWM):
 *   streaming copy (floor) the base file copied through one reused buffer (what `cp` does)
 *   read+write             the files copied tensor by tensor, unchanged (a fresh buffer per tensor)
 *   merge, ORT in worker   `modelfuse lora --matmul ort` (and auto): one `lora/merge` request, the whole
 *                          merge in the worker, each tensor one ORT graph (Cast, Gemm with C = W, Cast)
 *   merge, ORT in-process  the same graph in the merging process itself (no second process)
 *   merge, JS kernel       `--matmul js`: the fused row-by-row JavaScript kernel
 *   merge, B·A over IPC    the previous CLI path: products by ORT in the worker, merged here (once)
 *   reference tight loop   a plain merge, W += s·B·A per tensor in a triple loop (once)
 * Medians of LORA_BENCH_RUNS (default 3) interleaved runs; wall and CPU (all processes) as ratios
 * against the streaming copy and against the reference loop.
 * Targets: merge wall time ≤ 1.5× the streaming copy (issue 17); peak RSS < 1 GB (issue 4).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { writeSafetensorsToFd, type SafetensorsWriteEntry } from '../../extension/engine/safetensors/safetensors';
import { float64ToHalfBits } from '../../extension/engine/lora/halfFloat';
import { loadAverage, verdict } from './floor';

const ROOT = path.resolve(__dirname, '../..');
const BENCH_DIR = path.join(ROOT, '.bench');
const DIR = path.join(BENCH_DIR, 'lora');
const LAYERS = 32;
const DIM = 4096;
const RANK = 16;
const VERSION = 2;

interface Measurement {
  ms: number;
  cpuMs: number;
  workerCpuMs: number | null;
  maxRss: number;
  workerMaxRss: number | null;
  tensors: number;
}

/** The child and the worker it starts, built fresh from the sources (also used by the llama bench). */
export function buildChild(): string {
  const out = path.join(BENCH_DIR, 'loraBenchChild.js');
  const common = { bundle: true, platform: 'node' as const, target: 'node20', format: 'cjs' as const, logLevel: 'warning' as const, external: ['onnxruntime-node'] };
  esbuild.buildSync({ ...common, entryPoints: [path.join(__dirname, 'loraBenchChild.ts')], outfile: out });
  // The worker the child starts: built fresh from the sources, like the tests do (dist/ may be stale).
  esbuild.buildSync({ ...common, entryPoints: [path.join(ROOT, 'extension/workerProcess/workerMain.ts')], outfile: path.join(BENCH_DIR, 'loraBenchWorker.js') });
  return out;
}

/** xorshift noise, scaled like trained weights (≈ N(0, 0.02)). */
export function noise(seed: number): () => number {
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

interface Mode {
  label: string;
  args: (base: string, adapter: string, out: string) => string[];
  /** Slow modes run once, not `runs` times. */
  once?: boolean;
  /** Minutes on a busy machine: left out with LORA_BENCH_SLOW=0 (as are the `once` modes). */
  slow?: boolean;
}

const MODES: Mode[] = [
  { label: 'streaming copy (floor)', args: (b, _a, o) => ['stream-copy', b, o] },
  { label: 'read+write', args: (b, _a, o) => ['readwrite', b, o] },
  { label: 'merge, ORT in worker', args: (b, a, o) => ['merge', b, a, o, 'worker'] },
  { label: 'merge, ORT in-process', args: (b, a, o) => ['merge', b, a, o, 'inproc'] },
  { label: 'merge, JS kernel', args: (b, a, o) => ['merge', b, a, o, 'js'], slow: true },
  { label: 'merge, B·A over IPC', args: (b, a, o) => ['merge', b, a, o, 'ort-ipc'], once: true },
  { label: 'reference tight loop', args: (b, a, o) => ['reference', b, a, o], once: true },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const sec = (ms: number): string => (ms / 1000).toFixed(2);
const mib = (b: number): string => String(Math.floor(b / 2 ** 20)); // floor: 1023.9 MiB must not print as 1024

/** `LORA_BENCH_RUNS` (default 3) runs of each fast mode, interleaved so the machine's load hits all alike. */
export async function runLoraBench(): Promise<void> {
  fs.mkdirSync(DIR, { recursive: true });
  const { base, adapter } = generate();
  const child = buildChild();
  const out = path.join(DIR, 'out.safetensors');
  const size = fs.statSync(base).size;
  const runs = Math.max(1, Number(process.env.LORA_BENCH_RUNS ?? 3) || 3);
  console.log(`base ${base}: ${(size / 2 ** 30).toFixed(2)} GiB, ${LAYERS} tensors float16[${DIM}, ${DIM}]; adapter rank ${RANK} on all of them`);
  console.log(`${runs} run(s) per mode (the slow ones once), interleaved; each run in a fresh process (ORT threads: ${process.env.MODELFUSE_ORT_THREADS || 'ORT default'})`);
  // LORA_BENCH_SLOW=0 leaves out the modes that run once (the old IPC path, the reference loop: minutes on a busy machine).
  const modes = process.env.LORA_BENCH_SLOW === '0' ? MODES.filter((m) => !m.once && !m.slow) : MODES;
  const results = new Map<string, Measurement[]>(modes.map((m) => [m.label, []]));
  for (let r = 0; r < runs; r++) {
    for (const mode of modes) {
      if (mode.once && r > 0) continue;
      const m = measure(child, mode.args(base, adapter, out), out);
      results.get(mode.label)!.push(m);
      const worker = m.workerCpuMs !== null ? ` (+ ${sec(m.workerCpuMs)} s worker)` : '';
      const rss = m.workerMaxRss !== null ? `${mib(m.maxRss)} + ${mib(m.workerMaxRss)} MiB worker` : `${mib(m.maxRss)} MiB`;
      console.log(`  run ${r + 1}  ${mode.label.padEnd(24)} ${sec(m.ms).padStart(7)} s wall  ${sec(m.cpuMs).padStart(7)} s CPU${worker}   peak RSS ${rss}`);
    }
  }
  const summary = modes.map((mode) => {
    const ms = results.get(mode.label)!;
    return {
      label: mode.label,
      n: ms.length,
      wall: median(ms.map((m) => m.ms)),
      // CPU of every process involved (the merging process and, if any, the worker)
      cpu: median(ms.map((m) => m.cpuMs + (m.workerCpuMs ?? 0))),
      // Upper bound of the combined footprint: the processes' peaks added (they need not coincide)
      rss: Math.max(...ms.map((m) => m.maxRss + (m.workerMaxRss ?? 0))),
    };
  });
  const floor = summary[0];
  const ref = summary.find((x) => x.label.startsWith('reference')) ?? { wall: NaN, cpu: NaN };
  console.log(`\n  medians (load average now ${loadAverage()}: wall times depend on it, CPU times much less)`);
  console.log(`  ${'mode'.padEnd(24)} ${'runs'.padStart(4)} ${'wall s'.padStart(8)} ${'CPU s'.padStart(8)} ${'peak RSS'.padStart(9)}   ${'wall / floor'.padStart(12)} ${'CPU / floor'.padStart(11)}   ${'wall / ref'.padStart(10)} ${'CPU / ref'.padStart(9)}`);
  for (const x of summary) {
    const r = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    console.log(
      `  ${x.label.padEnd(24)} ${String(x.n).padStart(4)} ${sec(x.wall).padStart(8)} ${sec(x.cpu).padStart(8)} ${(mib(x.rss) + ' MiB').padStart(9)}   ${r(x.wall, floor.wall).padStart(12)} ${r(x.cpu, floor.cpu).padStart(11)}   ${r(x.wall, ref.wall).padStart(10)} ${r(x.cpu, ref.cpu).padStart(9)}`,
    );
  }
  console.log('\n  targets: wall ≤ 1.5× the streaming copy (issue 17), peak RSS < 1 GiB (issue 4; worker modes: merging process + worker peaks added)');
  for (const x of summary.filter((s) => s.label.startsWith('merge'))) {
    const ratio = x.wall / floor.wall;
    console.log(`  ${x.label.padEnd(24)} wall ${ratio.toFixed(2)}× the streaming copy: ${verdict(ratio, 1.5)}; CPU ${(x.cpu / floor.cpu).toFixed(2)}×; peak RSS ${mib(x.rss)} MiB: ${verdict(x.rss, 2 ** 30, true)}`);
  }
}
