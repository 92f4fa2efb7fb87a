/**
 * Fuse benchmark on the generated ~100 MB ResNet-50 (53 Conv+BN pairs,
 * the generator of the scan bench, reused): `modelfuse fuse` next to
 *   - a streaming copy of the same file through one reused buffer (the
 *     physical floor of any tool that rewrites it; what `cp` does),
 *   - readFile + writeFile of the whole file (the previous floor),
 *   - ONNX Runtime building a session at `basic` with optimizedModelFilePath
 *     (its own offline Conv+BN folding; the baseline users compare against).
 * Each operation runs in a fresh child process, RUNS rounds interleaved (so a
 * busy period of the shared machine hits all alike), medians, with peak RSS.
 * Targets from issue 17: fuse ≤ 1.5× the streaming copy; ≤ 0.5× ORT's offline
 * basic optimization; peak RSS ≤ 1.5× the model size.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { generateResnet50, type GeneratedModel } from './resnetGenerator';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { loadAverage, verdict } from './floor';

const ROOT = path.resolve(__dirname, '../..');
const BENCH_DIR = path.join(ROOT, '.bench');
const RUNS = Math.max(1, Number(process.env.FUSE_BENCH_RUNS ?? 5) || 5);

interface Measurement {
  ms: number;
  cpuMs: number;
  maxRss: number;
  rssBefore: number;
  applied: number;
  phases: Record<string, number>;
}

function buildChild(): string {
  const out = path.join(BENCH_DIR, 'fuseBenchChild.js');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, 'fuseBenchChild.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
    external: ['onnxruntime-node'],
  });
  return out;
}

function runOnce(child: string, mode: string, input: string, output: string): Measurement {
  fs.rmSync(output, { force: true });
  fs.rmSync(`${output}.data`, { force: true });
  const r = spawnSync(process.execPath, [child, mode, input, output], { encoding: 'utf8', maxBuffer: 1 << 20, cwd: ROOT });
  if (r.status !== 0) throw new Error(`bench child ${mode} ${input} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as Measurement;
}

function medianOf(runs: readonly Measurement[]): Measurement {
  const med = (f: (m: Measurement) => number): number => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  const phases: Record<string, number> = {};
  for (const k of Object.keys(runs[0].phases)) phases[k] = med((m) => m.phases[k]);
  return {
    ms: med((m) => m.ms), cpuMs: med((m) => m.cpuMs), maxRss: med((m) => m.maxRss), rssBefore: med((m) => m.rssBefore),
    applied: runs[0].applied, phases,
  };
}

/**
 * The scan bench's ResNet-50 in .bench/ when it is there (same generator, same
 * file: no second 100 MB model), else one generated here under its own name so
 * the scan bench's cache stamp is never touched.
 */
export function resnet50(): GeneratedModel {
  for (const name of ['resnet50', 'fuse-resnet50']) {
    const stamp = path.join(BENCH_DIR, `${name}.json`);
    if (!fs.existsSync(stamp)) continue;
    const info = JSON.parse(fs.readFileSync(stamp, 'utf8')) as GeneratedModel;
    if (fs.existsSync(info.onnxPath)) return info;
  }
  const info = generateResnet50(BENCH_DIR, 'fuse-resnet50', 1, false);
  fs.writeFileSync(path.join(BENCH_DIR, 'fuse-resnet50.json'), JSON.stringify(info));
  return info;
}

const MB = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
const ms = (n: number): string => `${n.toFixed(0).padStart(6)} ms`;

export async function runFuseBench(): Promise<void> {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const child = buildChild();
  const m = resnet50();
  const size = fs.statSync(m.onnxPath).size;
  const out = (name: string): string => path.join(BENCH_DIR, `fusebench-${name}.onnx`);

  const modes = ['stream-copy', 'readwrite', 'fuse', 'fuse-phases', 'ort-basic'];
  const runs = new Map<string, Measurement[]>(modes.map((m) => [m, []]));
  for (let r = 0; r < RUNS; r++) for (const mode of modes) runs.get(mode)!.push(runOnce(child, mode, m.onnxPath, out(mode)));
  const [stream, copy, fuse, phases, ort] = modes.map((mode) => medianOf(runs.get(mode)!));
  const fusedNodes = countBatchNorms(out('fuse'));

  const row = (label: string, x: Measurement, extra = ''): string =>
    `  ${label.padEnd(44)} ${ms(x.ms)} wall ${ms(x.cpuMs)} CPU   peak RSS ${MB(x.maxRss)}${extra}`;
  console.log(`\n${path.basename(m.onnxPath)}: ${(m.parameters / 1e6).toFixed(1)} M parameters, ${m.convBnPairs} Conv+BN pairs, ${MB(size)} (median of ${RUNS} interleaved runs, each in a fresh process; load average ${loadAverage()})`);
  console.log(row('streaming copy, one reused buffer (floor)', stream));
  console.log(row('readFile + writeFile', copy));
  console.log(row('modelfuse fuse (load, scan, fold, save)', fuse, ` (node alone: ${MB(fuse.rssBefore)}), ${fuse.applied} folds, ${fusedNodes} BatchNormalization left`));
  const phaseNames = Object.keys(phases.phases).filter((k) => !k.endsWith(' CPU'));
  console.log(`    phases: ${phaseNames.map((k) => `${k} ${phases.phases[k].toFixed(0)} ms wall / ${phases.phases[`${k} CPU`].toFixed(0)} ms CPU`).join(', ')}`);
  console.log(row('ORT session, basic + optimizedModelFilePath', ort));
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  console.log(`  fuse / streaming copy       ${ratio(fuse.ms, stream.ms)} wall, ${ratio(fuse.cpuMs, stream.cpuMs)} CPU   (target ≤ 1.5×: ${verdict(fuse.ms / stream.ms, 1.5)})`);
  console.log(`  fuse / (readFile+writeFile) ${ratio(fuse.ms, copy.ms)} wall, ${ratio(fuse.cpuMs, copy.cpuMs)} CPU`);
  console.log(`  fuse / ORT basic            ${ratio(fuse.ms, ort.ms)} wall, ${ratio(fuse.cpuMs, ort.cpuMs)} CPU   (target ≤ 0.5×: ${verdict(fuse.ms / ort.ms, 0.5)})`);
  console.log(`  fuse peak RSS / model size  ${ratio(fuse.maxRss, size)} total, ${ratio(fuse.maxRss - fuse.rssBefore, size)} above node's own baseline   (target ≤ 1.5×: ${verdict(fuse.maxRss / size, 1.5)})`);
  for (const name of modes) {
    fs.rmSync(out(name), { force: true });
    fs.rmSync(`${out(name)}.data`, { force: true });
  }
}

function countBatchNorms(file: string): number {
  // Loaded in this process after the measurements: a sanity check, not part of any timing.
  const model = OnnxModel.load(file);
  const n = (model.graph.node ?? []).filter((x) => x.op_type === 'BatchNormalization').length;
  model.close();
  return n;
}

if (require.main === module) {
  runFuseBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
