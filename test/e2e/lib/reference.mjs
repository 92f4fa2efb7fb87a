// An independent check of what the extension wrote: run the written model in ONNX Runtime here,
// in the test process (the repository's onnxruntime-node, not the extension's worker), on the
// fixture's input, and compare with the outputs PyTorch itself computed (io.safetensors).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { E2E_DIR } from './deps.mjs';

const REPO = path.resolve(E2E_DIR, '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');

const ARRAYS = { F32: Float32Array, F64: Float64Array, I64: BigInt64Array, I32: Int32Array };
const ORT_TYPES = { F32: 'float32', F64: 'float64', I64: 'int64', I32: 'int32' };

/** All tensors of a .safetensors file: name → { dtype, shape, data }. */
export function readSafetensors(file) {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const Array = ARRAYS[info.dtype];
    if (!Array) throw new Error(`${file}: ${name} has dtype ${info.dtype}, which this check does not read`);
    const [begin, end] = info.data_offsets;
    const copy = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
    const aligned = new Uint8Array(copy).buffer; // a fresh buffer, so the typed array is aligned
    tensors[name] = { dtype: info.dtype, shape: info.shape, data: new Array(aligned) };
  }
  return tensors;
}

/** Runs `modelPath` on `inputs` ({ name: tensor from readSafetensors }); returns output name → Float32Array. */
export async function runModel(modelPath, inputs) {
  const ort = createRequire(path.join(REPO, 'package.json'))('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const feeds = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor(ORT_TYPES[t.dtype], t.data, t.shape);
    const results = await session.run(feeds);
    return Object.fromEntries(Object.entries(results).map(([name, tensor]) => [name, tensor.data]));
  } finally {
    await session.release();
  }
}

/** Largest |actual − expected| and whether every element is within atol + rtol·|expected| (numpy.allclose). */
export function compare(actual, expected, { atol = 1e-4, rtol = 1e-3 } = {}) {
  if (actual.length !== expected.length) return { ok: false, maxAbs: Infinity, why: `${actual.length} elements, expected ${expected.length}` };
  let maxAbs = 0;
  let ok = true;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= atol + rtol * Math.abs(expected[i]))) ok = false;
    if (!(diff <= maxAbs)) maxAbs = diff;
  }
  return { ok, maxAbs };
}
