/**
 * A whole single-term LoRA merge of one tensor inside ONNX Runtime:
 *
 *   W' = Cast(Gemm(s·L, R, C = Cast(W, float), alpha = 1, beta = 1), base dtype)
 *   sq = ReduceSumSquare over chunks of ≤ 256 values of Cast(W, float)   (‖W‖ for the report, and a bound on |W|)
 *
 * run over blocks of rows, so the intermediates of one block stay in cache.
 *
 * The base bytes go in as they were read (a float16 tensor over the file's
 * bytes: no decoding in JavaScript), MLAS computes the rank-k product and adds
 * it to the base in the same pass (Gemm's C input), multi-threaded, and Cast
 * rounds the float32 sum to float16 once, to nearest even. So the rule is:
 * the product, the scaling (folded into the small factor L) and the sum are
 * float32; the result is rounded once to the base dtype.
 *
 * - float16: as above.
 * - float32: the same graph without the Casts (float32 arithmetic, no final rounding).
 * - bfloat16: onnxruntime-node cannot pass bfloat16 tensors, so the base is
 *   widened in JavaScript (a shift: exact), ORT computes the float32 sum, and
 *   JavaScript rounds it to bfloat16 once, to nearest even.
 * - anything else (float64): `null`, the caller keeps its JavaScript path.
 *
 * Deciding is the caller's (engine/lora/backendMerge.ts): from the chunk sums
 * and the factors it proves that nothing can have overflowed or gone NaN, or
 * scans the result when it cannot, and computes ‖W‖ and ‖ΔW‖ for the report.
 */
import { DataType, onnx } from '../../engine/onnx/proto';
import type { FusedMergeOutput, FusedMergeRequest } from '../../engine/lora/matmulBackend';
import { halfWords } from '../../engine/lora/halfFloat';
import { loadOrt, sessionOptions, type Session } from './runtime';

type GraphKind = 'f16' | 'f32';

const sessions = new Map<GraphKind, Promise<Session>>();

function mergeModelBytes(kind: GraphKind): Uint8Array {
  const dim = (p: string) => ({ dim_param: p });
  const value = (name: string, elem: number, dims: string[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensor_type: { elem_type: elem, shape: { dim: dims.map(dim) } } } });
  const attrInt = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const attrFloat = (name: string, f: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
  const attrInts = (name: string, ints: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
  const half = kind === 'f16';
  const wf = half ? 'Wf' : 'W';
  const node: onnx.INodeProto[] = [];
  if (half) node.push({ op_type: 'Cast', input: ['W'], output: ['Wf'], name: 'widen', attribute: [attrInt('to', DataType.FLOAT)] });
  // Σ W² in short chunks (float32 sums of ≤ 256 exact squares); the caller adds the chunks in float64.
  node.push({ op_type: 'Reshape', input: [wf, 'chunks'], output: ['Wc'], name: 'as_chunks' });
  node.push({ op_type: 'ReduceSumSquare', input: ['Wc'], output: ['rowSq'], name: 'chunk_norms', attribute: [attrInts('axes', [1]), attrInt('keepdims', 0)] });
  node.push({
    op_type: 'Gemm', input: ['L', 'R', wf], output: [half ? 'Yf' : 'Y'], name: 'merge',
    attribute: [attrFloat('alpha', 1), attrFloat('beta', 1)],
  });
  if (half) node.push({ op_type: 'Cast', input: ['Yf'], output: ['Y'], name: 'round_once', attribute: [attrInt('to', DataType.FLOAT16)] });
  const wType = half ? DataType.FLOAT16 : DataType.FLOAT;
  const model = onnx.ModelProto.create({
    ir_version: 8,
    producer_name: 'modelfuse-worker',
    // opset 17: ReduceSumSquare still takes its axes as an attribute.
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: `lora_merge_${kind}`,
      node,
      input: [
        value('W', wType, ['M', 'N']), value('L', DataType.FLOAT, ['M', 'K']), value('R', DataType.FLOAT, ['K', 'N']),
        onnx.ValueInfoProto.create({ name: 'chunks', type: { tensor_type: { elem_type: DataType.INT64, shape: { dim: [{ dim_value: 2 }] } } } }),
      ],
      output: [value('Y', wType, ['M', 'N']), value('rowSq', DataType.FLOAT, ['C'])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function session(kind: GraphKind): Promise<Session> {
  let s = sessions.get(kind);
  if (!s) {
    // No spinning: idle pool threads would burn CPU the file reads, writes and other processes need.
    s = loadOrt().InferenceSession.create(
      mergeModelBytes(kind),
      sessionOptions('disabled', { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
    );
    sessions.set(kind, s);
    s.catch(() => sessions.delete(kind));
  }
  return s;
}

/** Element types this graph merges; the caller falls back to JavaScript for the rest. */
export function ortMergeSupports(dtype: number): boolean {
  return dtype === DataType.FLOAT16 || dtype === DataType.FLOAT || dtype === DataType.BFLOAT16;
}

/**
 * W' for one tensor, or null when the dtype is not handled here. `base` holds
 * m·n little-endian values of `dtype`; L is [m, k], R is [k, n].
 */
export async function ortFusedMerge(req: FusedMergeRequest): Promise<FusedMergeOutput | null> {
  const { dtype, m, k, n, scale } = req;
  if (!ortMergeSupports(dtype)) return null;
  if (req.L.length !== m * k || req.R.length !== k * n) throw new RangeError(`fused merge: L/R sizes do not match [${m},${k}]·[${k},${n}]`);
  const count = m * n;
  const ort = loadOrt();
  // s·L in float32: the scale rides on the small factor (m·k values), not on the m·n product.
  const L = new Float32Array(m * k);
  for (let i = 0; i < L.length; i++) L[i] = scale * req.L[i];
  const W = dtype === DataType.FLOAT16 ? halfWords(req.base, count) : dtype === DataType.FLOAT ? float32Words(req.base, count) : widenBfloat16(req.base, count);
  const out = dtype === DataType.FLOAT16
    ? new Uint16Array(into(req.out, count * 2) ?? new ArrayBuffer(count * 2))
    : new Float32Array(into(req.out, count * 4) ?? new ArrayBuffer(count * 4));
  const s = await session(dtype === DataType.FLOAT16 ? 'f16' : 'f32');
  const type = dtype === DataType.FLOAT16 ? 'float16' : 'float32';
  const R = new ort.Tensor('float32', req.R, [k, n]);
  // Row blocks of ~2¹⁹ values: each op's intermediates (2 MB of float32) stay in cache between the Casts, the
  // Gemm and the reduction, instead of streaming 64 MB arrays through memory once per op (measured: ~40%
  // less CPU per 4096×4096 tensor than one run over the whole tensor).
  const rows = Math.max(1, Math.min(m, Math.floor(BLOCK_VALUES / n)));
  const sums: Float32Array[] = [];
  for (let r0 = 0; r0 < m; r0 += rows) {
    const r1 = Math.min(m, r0 + rows);
    const len = (r1 - r0) * n;
    const chunk = chunkLength(len);
    const sq = new Float32Array(len / chunk);
    await s.run(
      {
        W: new ort.Tensor(type, W.subarray(r0 * n, r1 * n) as Float32Array, [r1 - r0, n]),
        L: new ort.Tensor('float32', L.subarray(r0 * k, r1 * k), [r1 - r0, k]),
        R,
        chunks: new ort.Tensor('int64', BigInt64Array.from([BigInt(len / chunk), BigInt(chunk)]), [2]),
      },
      {
        Y: new ort.Tensor(type, out.subarray(r0 * n, r1 * n) as Float32Array, [r1 - r0, n]),
        rowSq: new ort.Tensor('float32', sq, [sq.length]),
      },
    );
    sums.push(sq);
  }
  let total = 0;
  let largest = 0;
  for (const sq of sums) {
    for (let j = 0; j < sq.length; j++) {
      total += sq[j];
      if (sq[j] > largest) largest = sq[j];
    }
  }
  if (!Number.isFinite(total)) largest = total; // a NaN/Inf chunk must not hide behind a finite maximum
  const squares = { total, largest };
  if (dtype === DataType.BFLOAT16) return { bytes: new Uint8Array(roundToBfloat16(out as Float32Array).buffer), squares };
  return { bytes: new Uint8Array(out.buffer), squares };
}

/** The caller's destination buffer when it fits exactly (float16/float32 results are written straight into it). */
function into(out: Uint8Array | undefined, bytes: number): ArrayBuffer | undefined {
  return out && out.byteOffset === 0 && out.byteLength === bytes && out.buffer.byteLength === bytes ? (out.buffer as ArrayBuffer) : undefined;
}

/** Values per ORT run (see the row blocks above). */
const BLOCK_VALUES = 1 << 19;

/** The largest power of two ≤ 256 dividing `count`: short float32 partial sums, few of them. */
function chunkLength(count: number): number {
  let c = 1;
  while (c < 256 && count % (c * 2) === 0) c *= 2;
  return c;
}

function float32Words(bytes: Uint8Array, count: number): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const copy = new Uint8Array(count * 4);
  copy.set(bytes.subarray(0, count * 4));
  return new Float32Array(copy.buffer);
}

/** bfloat16 → float32 is exact: the 16 bits become the high half. */
function widenBfloat16(bytes: Uint8Array, count: number): Float32Array {
  const src = halfWords(bytes, count);
  const out = new Float32Array(count);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) u[i] = src[i] << 16;
  return out;
}

/**
 * float32 → bfloat16, one rounding to nearest even (the float32 is the final
 * sum, so this is the only rounding). NaN stays NaN (quiet); overflow becomes
 * ±Inf, which the caller's check reports.
 */
export function roundToBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7f800000) === 0x7f800000) {
      out[i] = b & 0x7fffff ? ((b >>> 16) | 0x40) : b >>> 16;
      continue;
    }
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

export async function releaseMergeSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const s of all) await (await s.catch(() => undefined))?.release().catch(() => undefined);
}
