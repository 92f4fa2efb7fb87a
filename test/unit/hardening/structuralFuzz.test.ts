/**
 * Structural fuzz (issue 14): the fixtures decoded, one field mutated — a
 * dimension, a dtype, an op type, a node input, an attribute, the node order,
 * weight values — encoded again, and run through load → scan → fuse → save in
 * process. Every outcome is a fused model or a ModelFuseError with exit code 2
 * (never another exception: that is the CLI's exit 3). A seeded sample of the
 * models fuse accepted is then verified in ONNX Runtime: the fused model must
 * pass, or ONNX Runtime must refuse the model as bad input (exit 2).
 *
 * Seeded (the seed is in every failure message); CASES_PER_MODEL × 9 fixtures
 * cases in all, a few thousand, so the default `npm test` stays reasonable.
 * A hang fails by the test runner's timeout.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFuseError } from '../../../extension/engine/errors';
import { fuseModelFile } from '../../../extension/engine/fusion/fuse';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { verifyModels } from '../../../extension/workerProcess/ort/verify';
import { FIXTURES, tempDir } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';
import { encodeModel } from '../helpers/onnxBuilder';

const CASES_PER_MODEL = 250;
const VERIFIED_PER_MODEL = 6;
const MODELS = fs.readdirSync(FIXTURES).flatMap((c) => {
  const d = path.join(FIXTURES, c);
  return fs.statSync(d).isDirectory() ? fs.readdirSync(d).filter((f) => f.endsWith('.onnx')).map((f) => path.join(d, f)) : [];
}).sort();

const dir = tempDir('modelfuse-structural-fuzz-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const rng = mulberry32;

const OPS = ['Conv', 'BatchNormalization', 'Relu', 'Add', 'Mul', 'MatMul', 'Gemm', 'Identity', 'ConvTranspose', 'Reshape', 'Transpose', 'NotAnOp'];
const DTYPES = [DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16, DataType.INT64, DataType.INT8, DataType.BOOL, DataType.STRING, 0, 99];
const ODD_NUMBERS = [0, 1, -1, 2, 3, 1e38, -1e38, NaN, Infinity, 1e-45, 65536];
const ODD_DIMS = [0, 1, 2, 3, 7, 1000, 2 ** 31];

/** Applies one structural mutation; returns what it did (for the failure message). */
function mutate(m: onnx.ModelProto, r: () => number): string {
  const g = m.graph!;
  const nodes = g.node ?? [];
  const inits = g.initializer ?? [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const kind = Math.floor(r() * 7);
  switch (kind) {
    case 0: {
      const t = pick(inits);
      if (!t || !t.dims?.length) return 'none';
      const i = Math.floor(r() * t.dims.length);
      t.dims[i] = pick(ODD_DIMS);
      return `dims of '${t.name}'[${i}] = ${t.dims[i]}`;
    }
    case 1: {
      const t = pick(inits);
      if (!t) return 'none';
      t.data_type = pick(DTYPES);
      return `dtype of '${t.name}' = ${t.data_type}`;
    }
    case 2: {
      const n = pick(nodes);
      if (!n) return 'none';
      n.op_type = pick(OPS);
      return `op of '${n.name}' = ${n.op_type}`;
    }
    case 3: {
      const n = pick(nodes);
      if (!n?.input?.length) return 'none';
      const i = Math.floor(r() * n.input.length);
      const names = [...inits.map((t) => t.name ?? ''), ...nodes.flatMap((x) => x.output ?? []), '', 'missing'];
      n.input[i] = pick(names);
      return `input ${i} of '${n.name}' = '${n.input[i]}'`;
    }
    case 4: {
      const n = pick(nodes.filter((x) => x.attribute?.length));
      if (!n) return 'none';
      const a = pick(n.attribute!);
      if (r() < 0.25) {
        n.attribute = n.attribute!.filter((x) => x !== a);
        return `attribute '${a.name}' of '${n.name}' removed`;
      }
      if (a.type === AttributeType.INT) a.i = pick([0, 1, 2, 3, -1, 1000]);
      else if (a.type === AttributeType.FLOAT) a.f = pick(ODD_NUMBERS);
      else if (a.type === AttributeType.INTS) a.ints = (a.ints ?? []).map(() => pick([0, 1, 2, -1, 7]));
      else a.type = AttributeType.STRING;
      return `attribute '${a.name}' of '${n.name}' changed`;
    }
    case 5: {
      if (nodes.length < 2) return 'none';
      const i = Math.floor(r() * nodes.length);
      const j = Math.floor(r() * nodes.length);
      [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
      return `nodes ${i} and ${j} swapped`;
    }
    default: {
      const t = pick(inits.filter((x) => x.data_type === DataType.FLOAT && (x.raw_data?.length ?? 0) >= 4));
      if (!t) return 'none';
      const raw = Buffer.from(t.raw_data!);
      const at = Math.floor(r() * (raw.length / 4)) * 4;
      const v = pick(ODD_NUMBERS);
      raw.writeFloatLE(v, at);
      t.raw_data = raw;
      return `value ${at / 4} of '${t.name}' = ${v}`;
    }
  }
}

const control = { progress: () => undefined, throwIfCancelled: () => undefined };

describe('structural fuzz over every fixture', () => {
  for (const model of MODELS) {
    const name = path.relative(FIXTURES, model);
    it(`${name}: ${CASES_PER_MODEL} mutations: a fused model or exit 2, never exit 3; sampled outputs verified by ONNX Runtime`, { timeout: 600_000 }, async (t) => {
      const original = fs.readFileSync(model);
      const seed = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 14);
      const r = rng(seed);
      const tally = { fused: 0, refused: 0, verified: 0, ortRefused: 0 };
      const accepted: { input: string; output: string; how: string }[] = [];
      const caseDir = path.join(dir, name.replace(/[\\/]/g, '_'));
      fs.mkdirSync(caseDir);
      // External data files stay beside the copies (the lora fixtures have none; kept for future fixtures).
      for (let k = 0; k < CASES_PER_MODEL; k++) {
        const proto = onnx.ModelProto.decode(original);
        const how = mutate(proto, r);
        const input = path.join(caseDir, `in-${k}.onnx`);
        const output = path.join(caseDir, `out-${k}.onnx`);
        fs.writeFileSync(input, encodeModel(proto));
        try {
          await fuseModelFile(input, output);
          tally.fused++;
          accepted.push({ input, output, how });
        } catch (err) {
          if (!(err instanceof ModelFuseError)) assert.fail(`seed ${seed}, case ${k} (${how}): internal error: ${(err as Error).stack}`);
          assert.equal(err.exitCode, 2, `seed ${seed}, case ${k} (${how}): ${err.message}`);
          tally.refused++;
        }
      }
      // Verify a seeded sample of what fuse accepted (ONNX Runtime sessions are the slow part).
      for (let s = 0; s < Math.min(VERIFIED_PER_MODEL, accepted.length); s++) {
        const c = accepted[Math.floor(r() * accepted.length)];
        try {
          const report = await verifyModels({ modelA: c.input, modelB: c.output, runs: 0 }, control);
          assert.ok(report.passed, `seed ${seed} (${c.how}): fused model differs: ${JSON.stringify(Object.values(report.outputs).map((o) => o.max_abs))}`);
          tally.verified++;
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(err instanceof ModelFuseError && err.exitCode === 2, `seed ${seed} (${c.how}): verify failed with a non-user error: ${(err as Error).message}`);
          tally.ortRefused++;
        }
      }
      assert.equal(tally.fused + tally.refused, CASES_PER_MODEL);
      assert.ok(tally.verified + tally.ortRefused > 0 || accepted.length === 0, 'nothing was verified');
      t.diagnostic(`seed ${seed}: ${JSON.stringify(tally)}`);
      fs.rmSync(caseDir, { recursive: true, force: true });
    });
  }
});
