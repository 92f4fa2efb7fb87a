/**
 * lora-branch benchmark: a generated transformer-like model with an unmerged
 * LoRA branch on every projection (default 48 layers × q/k/v/o, 1024 wide,
 * rank 16: 192 branches, ~800 MB of float32 weights), as an unmerged PEFT
 * export leaves it. Measures scan + fold time next to loading and saving the
 * file, and ONNX Runtime latency before and after the fold (median of runs,
 * graph optimizations off and at `all`), and checks the outputs still agree.
 *
 * Sizes can be changed for a quick run: LORA_BENCH_LAYERS, LORA_BENCH_DIM,
 * LORA_BENCH_RANK, LORA_BENCH_TOKENS, LORA_BENCH_RUNS.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, type onnx } from '../../extension/engine/onnx/proto';
import { encodeModel, makeGraph, makeModel, makeNode, makeRawTensor, makeValueInfo, type AttrValue } from '../unit/helpers/onnxBuilder';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { saveModel } from '../../extension/engine/onnx/save';
import { scanModel } from '../../extension/engine/fusion/scan';
import { fuseCandidates } from '../../extension/engine/fusion/fuse';

const ROOT = path.resolve(__dirname, '../..');
const BENCH_DIR = path.join(ROOT, '.bench');

const env = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const LAYERS = env('LORA_BENCH_LAYERS', 48);
const DIM = env('LORA_BENCH_DIM', 1024);
const RANK = env('LORA_BENCH_RANK', 16);
const TOKENS = env('LORA_BENCH_TOKENS', 32);
const RUNS = env('LORA_BENCH_RUNS', 9);
const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

/** Uniform values in [-a, a] from a seeded xorshift, straight into float32 bytes (fast enough for ~200M values). */
function uniformBytes(count: number, a: number, seed: number): Uint8Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * a;
  }
  return new Uint8Array(out.buffer);
}

function tensor(name: string, dims: number[], raw: Uint8Array): onnx.TensorProto {
  return makeRawTensor(name, DataType.FLOAT, dims, raw);
}

function node(op: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}): onnx.NodeProto {
  return makeNode(op, inputs, [`${name}_output_0`], name, attrs);
}

/** The model an unmerged PEFT export of LAYERS blocks gives: per projection MatMul + bias Add + A, B, Mul, Add. */
function generate(file: string): void {
  const nodes: onnx.NodeProto[] = [];
  const inits: onnx.TensorProto[] = [];
  let seed = 1;
  const ln = (name: string): string => {
    inits.push(tensor(`${name}.weight`, [DIM], new Uint8Array(new Float32Array(DIM).fill(1).buffer)));
    inits.push(tensor(`${name}.bias`, [DIM], new Uint8Array(DIM * 4)));
    return name;
  };
  const projection = (layer: number, proj: string, input: string): string => {
    const mod = `base_model.model.layers.${layer}.attn.${proj}`;
    const scope = `/model/layers.${layer}/${proj}`;
    inits.push(tensor(`onnx::MatMul_${layer}_${proj}`, [DIM, DIM], uniformBytes(DIM * DIM, 1 / Math.sqrt(DIM), seed++)));
    inits.push(tensor(`${mod}.base_layer.bias`, [DIM], uniformBytes(DIM, 0.02, seed++)));
    inits.push(tensor(`${mod}.lora_A.default.weight.T`, [DIM, RANK], uniformBytes(DIM * RANK, 1 / Math.sqrt(DIM), seed++)));
    inits.push(tensor(`${mod}.lora_B.default.weight.T`, [RANK, DIM], uniformBytes(RANK * DIM, 0.05, seed++)));
    const mm = node('MatMul', `${scope}/base_layer/MatMul`, [input, `onnx::MatMul_${layer}_${proj}`]);
    const add = node('Add', `${scope}/base_layer/Add`, [`${mod}.base_layer.bias`, mm.output[0]]);
    const a = node('MatMul', `${scope}/lora_A/default/MatMul`, [input, `${mod}.lora_A.default.weight.T`]);
    const b = node('MatMul', `${scope}/lora_B/default/MatMul`, [a.output[0], `${mod}.lora_B.default.weight.T`]);
    const scale = tensor('', [], new Uint8Array(new Float32Array([2]).buffer));
    const s = makeNode('Constant', [], [`${scope}/Constant_output_0`], `${scope}/Constant`, { value: { tensor: scale } });
    const mul = node('Mul', `${scope}/Mul`, [b.output[0], s.output[0]]);
    const sum = node('Add', `${scope}/Add`, [add.output[0], mul.output[0]]);
    nodes.push(mm, add, a, b, s, mul, sum);
    return sum.output[0];
  };
  let x = 'x';
  for (let l = 0; l < LAYERS; l++) {
    const norm = ln(`base_model.model.layers.${l}.norm`);
    const n = node('LayerNormalization', `/model/layers.${l}/norm/LayerNormalization`, [x, `${norm}.weight`, `${norm}.bias`], { axis: -1 });
    nodes.push(n);
    const [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((p) => projection(l, p, n.output[0]));
    // Not real attention: the benchmark is about the projections, so q, k and v are simply summed.
    const qk = node('Add', `/model/layers.${l}/Add_qk`, [q, k]);
    const qkv = node('Add', `/model/layers.${l}/Add_qkv`, [qk.output[0], v]);
    nodes.push(qk, qkv);
    const o = projection(l, 'o_proj', qkv.output[0]);
    const residual = node('Add', `/model/layers.${l}/Add_residual`, [x, o]);
    nodes.push(residual);
    x = residual.output[0];
  }
  const io = (name: string): onnx.ValueInfoProto => makeValueInfo(name, DataType.FLOAT, [1, TOKENS, DIM]);
  nodes.push(makeNode('Identity', [x], ['y'], 'output'));
  const model = makeModel(makeGraph(nodes, 'lora_bench', [io('x')], [io('y')], inits), { producerName: 'modelfuse-bench' });
  fs.writeFileSync(file, encodeModel(model));
}

interface Latency {
  medianMs: number;
  minMs: number;
  y: Float32Array;
}

/**
 * Median ONNX Runtime latency of both models, runs interleaved (A B A B …)
 * so that load from other processes on the machine hits both alike.
 */
async function latencies(files: [string, string], level: 'disabled' | 'all', input: Float32Array): Promise<[Latency, Latency]> {
  const sessions = await Promise.all(files.map((f) => ort.InferenceSession.create(f, { graphOptimizationLevel: level })));
  try {
    const feeds = { x: new ort.Tensor('float32', input, [1, TOKENS, DIM]) };
    const times: number[][] = [[], []];
    const ys: Float32Array[] = [new Float32Array(0), new Float32Array(0)];
    for (let i = 0; i < RUNS + 1; i++) {
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        const out = await sessions[k].run(feeds);
        const dt = performance.now() - t0;
        if (i > 0) times[k].push(dt); // the first run warms up
        ys[k] = out.y.data as Float32Array;
      }
    }
    const stat = (k: number): Latency => {
      const t = [...times[k]].sort((a, b) => a - b);
      return { medianMs: t[Math.floor(t.length / 2)], minMs: t[0], y: ys[k] };
    };
    return [stat(0), stat(1)];
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

function scaledDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

const ms = (t: number): string => `${t.toFixed(0)} ms`;
const MB = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;

export async function runLoraBranchBench(): Promise<void> {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const tag = `lora-branch-v1-${LAYERS}x4x${DIM}-r${RANK}`;
  const unmergedPath = path.join(BENCH_DIR, `${tag}.onnx`);
  const fusedPath = path.join(BENCH_DIR, `${tag}.fused.onnx`);
  if (!fs.existsSync(unmergedPath)) {
    const t0 = performance.now();
    generate(unmergedPath);
    console.log(`generated ${path.relative(ROOT, unmergedPath)} in ${ms(performance.now() - t0)}`);
  }
  const size = fs.statSync(unmergedPath).size;
  console.log(`model: ${LAYERS} layers × ${PROJECTIONS.length} projections, ${DIM}×${DIM}, LoRA rank ${RANK}: ${LAYERS * PROJECTIONS.length} branches, ${MB(size)}`);

  const t0 = performance.now();
  const model = OnnxModel.load(unmergedPath);
  const t1 = performance.now();
  const candidates = scanModel(model).candidates;
  const t2 = performance.now();
  const cpu0 = process.cpuUsage();
  const report = fuseCandidates(model, candidates.filter((c) => c.pattern === 'lora-branch'));
  const cpu = process.cpuUsage(cpu0);
  const t3 = performance.now();
  fs.rmSync(fusedPath, { force: true });
  await saveModel(model, fusedPath, { force: true });
  const t4 = performance.now();
  model.close();
  const folded = report.applied.length;
  console.log(`load ${ms(t1 - t0)} | scan ${ms(t2 - t1)} (${candidates.filter((c) => c.pattern === 'lora-branch').length} lora-branch candidates) | fold ${ms(t3 - t2)} wall, ${ms((cpu.user + cpu.system) / 1000)} CPU (${folded} folded, ${report.skipped.length} skipped, ${((cpu.user + cpu.system) / 1000 / Math.max(folded, 1)).toFixed(1)} ms CPU per branch) | save ${ms(t4 - t3)}`);
  console.log(`fold time vs load + save of the file: ${((t3 - t2) / (t1 - t0 + t4 - t3)).toFixed(2)}×; peak RSS so far ${MB(process.resourceUsage().maxRSS * 1024)}`);

  const input = new Float32Array(uniformBytes(TOKENS * DIM, 1, 12345).buffer);
  for (const level of ['disabled', 'all'] as const) {
    const [before, after] = await latencies([unmergedPath, fusedPath], level, input);
    console.log(
      `ORT (graph optimizations ${level}), input [1, ${TOKENS}, ${DIM}], ${RUNS} interleaved runs: ` +
        `unmerged median ${before.medianMs.toFixed(1)} ms (min ${before.minMs.toFixed(1)}) → folded median ${after.medianMs.toFixed(1)} ms (min ${after.minMs.toFixed(1)}): ` +
        `${(before.medianMs / after.medianMs).toFixed(2)}× by median, ${(before.minMs / after.minMs).toFixed(2)}× by min; ` +
        `outputs differ by ${scaledDiff(after.y, before.y).toExponential(2)} of their scale`,
    );
  }
  console.log(`load average during the bench: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores (wall times above include waiting for other processes)`);
}

if (require.main === module) {
  runLoraBranchBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
