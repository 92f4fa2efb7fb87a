/**
 * Verify benchmark: `modelfuse verify` of the generated ResNet-50 (the fuse
 * bench's ~100 MB model) against its fused copy, next to the cost of simply
 * running the two models: one plain ONNX Runtime session per model, run once,
 * one after the other (optimizations disabled, as verify runs them). Each in
 * a fresh process, rounds interleaved, medians; verify's CPU and peak RSS are
 * those of the CLI process and the ORT worker together.
 * Targets from issue 17: verify ≤ 1.5× the plain sequence (with `--runs 0`;
 * the latency runs asked for come on top, capped by their time budget);
 * peak RSS ≤ 1.5× the larger single run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { resnet50 } from './fuseBench';
import { fuseModelFile } from '../../extension/engine/fusion/fuse';
import { loadAverage, verdict } from './floor';

const ROOT = path.resolve(__dirname, '../..');
const BENCH_DIR = path.join(ROOT, '.bench');
const RUNS = Math.max(1, Number(process.env.VERIFY_BENCH_RUNS ?? 3) || 3);

interface Measurement {
  ms: number;
  cpuMs: number;
  maxRss: number;
  workerCpuMs: number | null;
  workerMaxRss: number | null;
}

function build(): { child: string; worker: string } {
  const common = { bundle: true, platform: 'node' as const, target: 'node20', format: 'cjs' as const, logLevel: 'warning' as const, external: ['onnxruntime-node'] };
  const child = path.join(BENCH_DIR, 'verifyBenchChild.js');
  const worker = path.join(BENCH_DIR, 'verifyBenchWorker.js');
  esbuild.buildSync({ ...common, entryPoints: [path.join(__dirname, 'verifyBenchChild.ts')], outfile: child });
  // The worker built fresh from the sources (dist/ may be stale).
  esbuild.buildSync({ ...common, entryPoints: [path.join(ROOT, 'extension/workerProcess/workerMain.ts')], outfile: worker });
  return { child, worker };
}

function runOnce(child: string, args: string[]): Measurement {
  const r = spawnSync(process.execPath, [child, ...args], { encoding: 'utf8', maxBuffer: 1 << 20, cwd: ROOT });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Measurement;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MB = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export async function runVerifyBench(): Promise<void> {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const { child, worker } = build();
  const a = resnet50().onnxPath;
  const b = path.join(BENCH_DIR, 'verifybench-fused.onnx');
  if (!fs.existsSync(b)) await fuseModelFile(a, b);
  const modes: Record<string, string[]> = {
    'one ORT run of A': ['ort-single', a],
    'one ORT run of B': ['ort-single', b],
    'ORT: A once, then B once': ['ort-sequence', a, b],
    'verify --runs 0': ['verify', a, b, '0', worker],
    'verify --runs 20 (5 s budget)': ['verify', a, b, '20', worker],
  };
  const results = new Map<string, Measurement[]>(Object.keys(modes).map((k) => [k, []]));
  for (let r = 0; r < RUNS; r++) for (const [label, args] of Object.entries(modes)) results.get(label)!.push(runOnce(child, args));
  const summary = new Map(
    [...results].map(([label, ms]) => [
      label,
      {
        wall: median(ms.map((m) => m.ms)),
        cpu: median(ms.map((m) => m.cpuMs + (m.workerCpuMs ?? 0))),
        // Every process's peak added (CLI + worker): an upper bound of the footprint.
        rss: median(ms.map((m) => m.maxRss + (m.workerMaxRss ?? 0))),
        parts: ms[0].workerMaxRss !== null ? ` (CLI ${MB(median(ms.map((m) => m.maxRss)))} + worker ${MB(median(ms.map((m) => m.workerMaxRss!)))})` : '',
      },
    ]),
  );
  console.log(`\n${path.basename(a)} (${MB(fs.statSync(a).size)}) against its fused copy; median of ${RUNS} interleaved runs, each in a fresh process; load average ${loadAverage()}`);
  for (const [label, s] of summary) console.log(`  ${label.padEnd(32)} ${sec(s.wall).padStart(8)} wall ${sec(s.cpu).padStart(8)} CPU   peak RSS ${MB(s.rss)}${s.parts}`);
  const plain = summary.get('ORT: A once, then B once')!;
  const v = summary.get('verify --runs 0')!;
  const larger = Math.max(summary.get('one ORT run of A')!.rss, summary.get('one ORT run of B')!.rss);
  console.log(`  verify --runs 0 / plain sequence   ${(v.wall / plain.wall).toFixed(2)}× wall, ${(v.cpu / plain.cpu).toFixed(2)}× CPU   (target ≤ 1.5×: ${verdict(v.wall / plain.wall, 1.5)})`);
  console.log(`  verify peak RSS / larger single run ${(v.rss / larger).toFixed(2)}×   (target ≤ 1.5×: ${verdict(v.rss / larger, 1.5)})`);
  const timed = summary.get('verify --runs 20 (5 s budget)')!;
  console.log(`  verify --runs 20 / plain sequence  ${(timed.wall / plain.wall).toFixed(2)}× wall (the latency runs on top, at most 5 s per model and level); peak RSS ${(timed.rss / larger).toFixed(2)}× the larger single run`);
}

if (require.main === module) {
  runVerifyBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
