/**
 * 7B-class LoRA merge benchmark (issue 17): Llama-2-7B's shapes — 32 layers,
 * q/k/v/o 4096², gate/up 11008×4096, down 4096×11008, embeddings, lm_head and
 * norms; 6.74 B parameters, 13.5 GB in float16 — as a sharded safetensors
 * model and as ONNX with external data, and a rank-16 PEFT adapter on all
 * seven linear layers of every block. Merged by `modelfuse lora` (the whole
 * merge in the ORT worker), next to the streaming copy of the same files
 * through one reused buffer. Peak RSS is the CLI's and the worker's added.
 *
 * Not part of a plain `npm run bench` (it needs tens of GB): `npm run bench --
 * llama`. The models are generated once into LLAMA_BENCH_DIR (default
 * .bench/llama7b) and kept; the space needed is printed before anything is
 * written. LLAMA_BENCH_FORMATS=safetensors,onnx picks the formats.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeSafetensorsToFd, type SafetensorsWriteEntry } from '../../extension/engine/safetensors/safetensors';
import { float64ToHalfBits } from '../../extension/engine/lora/halfFloat';
import { onnx } from '../../extension/engine/onnx/proto';
import { loadAverage, verdict } from './floor';
import { buildChild, noise } from './loraBench';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.resolve(process.env.LLAMA_BENCH_DIR ?? path.join(ROOT, '.bench', 'llama7b'));
const LAYERS = 32;
const HIDDEN = 4096;
const FFN = 11008;
const VOCAB = 32000;
const RANK = 16;
/** Shards of about this size, as transformers' save_pretrained writes them. */
const SHARD_BYTES = 2 * 2 ** 30;

interface Weight {
  name: string;
  /** PyTorch's shape: [out, in] for a Linear. */
  shape: number[];
  linear: boolean;
}

function weights(): Weight[] {
  const w: Weight[] = [{ name: 'model.embed_tokens.weight', shape: [VOCAB, HIDDEN], linear: false }];
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) w.push({ name: `${p}.self_attn.${m}.weight`, shape: [HIDDEN, HIDDEN], linear: true });
    w.push({ name: `${p}.mlp.gate_proj.weight`, shape: [FFN, HIDDEN], linear: true });
    w.push({ name: `${p}.mlp.up_proj.weight`, shape: [FFN, HIDDEN], linear: true });
    w.push({ name: `${p}.mlp.down_proj.weight`, shape: [HIDDEN, FFN], linear: true });
    w.push({ name: `${p}.input_layernorm.weight`, shape: [HIDDEN], linear: false });
    w.push({ name: `${p}.post_attention_layernorm.weight`, shape: [HIDDEN], linear: false });
  }
  w.push({ name: 'model.norm.weight', shape: [HIDDEN], linear: false });
  w.push({ name: 'lm_head.weight', shape: [VOCAB, HIDDEN], linear: false });
  return w;
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const GB = (n: number): string => `${(n / 1e9).toFixed(1)} GB`;

/** One pool of random float16 values; each tensor is a differently offset view of it (the generation is disk-bound). */
class Pool {
  private readonly bytes: Uint8Array;
  private next = 0;
  constructor(largest: number) {
    const rnd = noise(7);
    const halves = new Uint16Array(largest + 65536);
    for (let i = 0; i < halves.length; i++) halves[i] = float64ToHalfBits(rnd());
    this.bytes = new Uint8Array(halves.buffer);
  }
  view(n: number): Uint8Array {
    this.next = (this.next + 4099) % 65536;
    return this.bytes.subarray(this.next * 2, (this.next + n) * 2);
  }
}

function writeAdapter(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const rnd = noise(11);
  const f32 = (n: number, scale: number): Uint8Array => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rnd() * scale;
    return new Uint8Array(v.buffer);
  };
  const entries: SafetensorsWriteEntry[] = [];
  for (const w of weights().filter((x) => x.linear)) {
    const mod = w.name.replace(/\.weight$/, '');
    const [out, inn] = w.shape;
    entries.push({ name: `base_model.model.${mod}.lora_A.weight`, dtype: 'F32', shape: [RANK, inn], bytes: () => f32(RANK * inn, 1) });
    entries.push({ name: `base_model.model.${mod}.lora_B.weight`, dtype: 'F32', shape: [out, RANK], bytes: () => f32(out * RANK, 0.01) });
  }
  const fd = fs.openSync(path.join(dir, 'adapter_model.safetensors'), 'w');
  writeSafetensorsToFd(fd, entries, { format: 'pt' });
  fs.closeSync(fd);
  const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: RANK, lora_alpha: 32, target_modules: targets }));
}

/** model.safetensors.index.json and its shards. */
function writeSafetensors(dir: string, pool: Pool): string {
  fs.mkdirSync(dir, { recursive: true });
  const shards: Weight[][] = [[]];
  let size = 0;
  for (const w of weights()) {
    const b = count(w.shape) * 2;
    if (size > 0 && size + b > SHARD_BYTES) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(w);
    size += b;
  }
  const weightMap: Record<string, string> = {};
  shards.forEach((list, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const fd = fs.openSync(path.join(dir, file), 'w');
    writeSafetensorsToFd(fd, list.map((w) => ({ name: w.name, dtype: 'F16', shape: w.shape, bytes: () => pool.view(count(w.shape)) })), { format: 'pt' });
    fs.closeSync(fd);
    for (const w of list) weightMap[w.name] = file;
  });
  const index = path.join(dir, 'model.safetensors.index.json');
  fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: weights().reduce((a, w) => a + count(w.shape) * 2, 0) }, weight_map: weightMap }, null, 2));
  return index;
}

/**
 * model.onnx + model.onnx.data: the graph of a Llama forward pass reduced to
 * what carries the weights (Gather for the embedding, Mul for the norms,
 * MatMul for every Linear with its weight stored [in, out] as the exporters
 * do), every initializer in the external data file.
 */
function writeOnnx(dir: string, pool: Pool): string {
  fs.mkdirSync(dir, { recursive: true });
  const dataName = 'model.onnx.data';
  const fd = fs.openSync(path.join(dir, dataName), 'w');
  let offset = 0;
  const initializer: onnx.ITensorProto[] = [];
  const nodes: onnx.INodeProto[] = [];
  const add = (w: Weight): string => {
    const stored = w.linear ? [w.shape[1], w.shape[0]] : w.shape;
    const bytes = pool.view(count(stored));
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done);
    initializer.push({
      name: w.name, data_type: onnx.TensorProto.DataType.FLOAT16, dims: stored, data_location: onnx.TensorProto.DataLocation.EXTERNAL,
      external_data: [{ key: 'location', value: dataName }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(bytes.length) }],
    });
    offset += bytes.length;
    return w.name;
  };
  let n = 0;
  const node = (op: string, inputs: string[], scope: string): string => {
    const out = `${scope}/${op}_output_${n++}`;
    nodes.push({ op_type: op, name: `${scope}/${op}`, input: inputs, output: [out] });
    return out;
  };
  const all = weights();
  let h = node('Gather', [add(all[0]), 'input_ids'], '/model/embed_tokens');
  for (const w of all.slice(1)) {
    const scope = '/' + w.name.replace(/\.weight$/, '').replace(/\./g, '/');
    if (w.name.includes('q_proj') || w.name.includes('gate_proj')) h = node('MatMul', [h, add(w)], scope); // chain through one path; the others read h too
    else if (w.linear) {
      const y = node('MatMul', [h, add(w)], scope);
      if (w.name.includes('o_proj') || w.name.includes('down_proj')) h = y;
    } else h = node('Mul', [h, add(w)], scope);
  }
  fs.closeSync(fd);
  const vi = (name: string, elem: number, dims: (number | string)[]): onnx.IValueInfoProto => ({
    name, type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  });
  const model = onnx.ModelProto.create({
    ir_version: 8, producer_name: 'modelfuse-bench', opset_import: [{ domain: '', version: 17 }],
    graph: { name: 'llama7b', node: nodes, initializer, input: [vi('input_ids', onnx.TensorProto.DataType.INT64, ['batch', 'seq'])], output: [vi(h, onnx.TensorProto.DataType.FLOAT16, ['batch', 'seq', VOCAB])] },
  });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

interface Measurement {
  ms: number;
  cpuMs: number;
  workerCpuMs: number | null;
  maxRss: number;
  workerMaxRss: number | null;
}

function run(script: string, args: string[]): Measurement {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed`);
  return JSON.parse(r.stdout.trim()) as Measurement;
}

/** The output files of a merge or copy into `outDir` (removed after each run: one output on disk at a time). */
function clear(outDir: string): void {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
}

export async function runLlamaBench(): Promise<void> {
  const total = weights().reduce((a, w) => a + count(w.shape) * 2, 0);
  const formats = (process.env.LLAMA_BENCH_FORMATS ?? 'safetensors,onnx').split(',');
  console.log(`Llama-2-7B shapes: ${(weights().reduce((a, w) => a + count(w.shape), 0) / 1e9).toFixed(2)} B parameters, ${GB(total)} float16, rank-${RANK} adapter on all ${LAYERS * 7} linear layers`);
  console.log(`disk: ${GB(total)} per base format (${formats.join(' + ')}, kept in ${DIR}) + ${GB(total)} for one output at a time = ${GB(total * (formats.length + 1))} at most`);
  const adapter = path.join(DIR, 'adapter');
  let pool: Pool | undefined;
  const base = (format: string): string => {
    const stamp = path.join(DIR, format, 'complete');
    const file = format === 'onnx' ? path.join(DIR, 'onnx', 'model.onnx') : path.join(DIR, 'safetensors', 'model.safetensors.index.json');
    if (fs.existsSync(stamp)) return file;
    console.log(`generating the ${format} base in ${path.join(DIR, format)} …`);
    pool ??= new Pool(VOCAB * HIDDEN);
    if (!fs.existsSync(path.join(adapter, 'adapter_config.json'))) writeAdapter(adapter);
    (format === 'onnx' ? writeOnnx : writeSafetensors)(path.join(DIR, format), pool);
    fs.writeFileSync(stamp, '');
    return file;
  };
  const script = buildChild(); // the LoRA bench's child and worker
  for (const format of formats) {
    const input = base(format);
    pool = undefined;
    const outDir = path.join(DIR, `${format}-out`);
    clear(outDir);
    const out = path.join(outDir, path.basename(input));
    const copy = format === 'onnx'
      ? (() => {
          // The .onnx and its .data file, each copied through one reused buffer.
          const r = run(script, ['stream-copy', input, out]);
          const d = run(script, ['stream-copy', `${input}.data`, `${out}.data`]);
          return { ...r, ms: r.ms + d.ms, cpuMs: r.cpuMs + d.cpuMs, maxRss: Math.max(r.maxRss, d.maxRss) };
        })()
      : run(script, ['stream-copy', input, out]);
    clear(outDir);
    const merge = run(script, ['merge', input, adapter, out, 'worker']);
    clear(outDir);
    const rss = merge.maxRss + (merge.workerMaxRss ?? 0);
    console.log(`\n  ${format} (load average ${loadAverage()})`);
    console.log(`    streaming copy (floor)   ${(copy.ms / 1000).toFixed(1).padStart(6)} s wall ${(copy.cpuMs / 1000).toFixed(1).padStart(6)} s CPU   peak RSS ${(copy.maxRss / 2 ** 20).toFixed(0)} MiB`);
    console.log(`    modelfuse lora (worker)  ${(merge.ms / 1000).toFixed(1).padStart(6)} s wall ${((merge.cpuMs + (merge.workerCpuMs ?? 0)) / 1000).toFixed(1).padStart(6)} s CPU   peak RSS ${(merge.maxRss / 2 ** 20).toFixed(0)} + ${((merge.workerMaxRss ?? 0) / 2 ** 20).toFixed(0)} MiB (CLI + worker)`);
    console.log(`    merge / streaming copy   ${(merge.ms / copy.ms).toFixed(2)}× wall (target ≤ 1.5×: ${verdict(merge.ms / copy.ms, 1.5)}); peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB (target < 512 MB: ${verdict(rss, 512e6, true)})`);
  }
}

if (require.main === module) {
  runLlamaBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
