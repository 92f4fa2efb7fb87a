/**
 * `OnnxModel.load(path, { weights: 'on-demand' })` (skeleton.ts, lazyRawData.ts):
 * large raw_data payloads stay in the file until used. It must be
 * indistinguishable from a full load in everything but memory: the same scan,
 * the same tensor bytes, the same saved file, the same error for every broken
 * file. The fixtures' tensors are small, so these tests leave every payload
 * of at least 1 byte in the file.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFuseError } from '../../../extension/engine/errors';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { lazyRawDataLength } from '../../../extension/engine/onnx/lazyRawData';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { fuseCandidates } from '../../../extension/engine/fusion/fuse';
import { fixture, FUSION_CASES, tempDir } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';

const ON_DEMAND = { weights: 'on-demand', onDemandMinBytes: 1 } as const;
const MODELS = [...FUSION_CASES.map((c) => fixture(c, 'model.onnx')), fixture('lora_linear_qv', 'base.onnx'), fixture('lora_conv', 'peft_unmerged.onnx')];
const dir = tempDir('modelfuse-ondemand-');

/** Outcome of loading + scanning: the scan JSON, or the error message. */
function outcome(file: string, options?: Parameters<typeof OnnxModel.load>[1]): string {
  let model: OnnxModel | undefined;
  try {
    model = OnnxModel.load(file, options);
    return JSON.stringify(analyzeModel(model).scan);
  } catch (err) {
    if (!(err instanceof ModelFuseError)) throw err;
    return `error: ${err.message}`;
  } finally {
    model?.close();
  }
}

test('on-demand load: payloads stay in the file, yet scan, tensor bytes and the saved file equal a full load', async () => {
  let leftOut = 0;
  for (const file of MODELS) {
    const full = OnnxModel.load(file);
    const lazy = OnnxModel.load(file, ON_DEMAND);
    assert.equal(lazy.fileSize, full.fileBytes.length);
    assert.equal(outcome(file, ON_DEMAND), outcome(file), `${file}: scan`);
    if (lazy.fileBytes.length < lazy.fileSize) leftOut++;
    for (const [i, t] of full.graph.initializer.entries()) {
      assert.deepEqual(Buffer.from(lazy.tensorBytes(lazy.graph.initializer[i])), Buffer.from(full.tensorBytes(t)), `${file}: ${t.name}`);
    }
    const a = path.join(dir, `${path.basename(path.dirname(file))}-full.onnx`);
    const b = path.join(dir, `${path.basename(path.dirname(file))}-lazy.onnx`);
    await saveModel(full, a, { force: true });
    await saveModel(OnnxModel.load(file, ON_DEMAND), b, { force: true });
    if (!fs.existsSync(`${a}.data`)) assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), `${file}: saved bytes`);
    full.close();
    lazy.close();
  }
  assert.ok(leftOut >= MODELS.length - 2, `payloads were left out in ${leftOut} of ${MODELS.length} models`);
});

test('on-demand load: a fused model is saved with the same bytes as after a full load', async () => {
  for (const c of FUSION_CASES.filter((x) => !x.includes('dynamo')).slice(0, 4)) {
    const outs: Buffer[] = [];
    for (const options of [undefined, ON_DEMAND]) {
      const m = OnnxModel.load(fixture(c, 'model.onnx'), options);
      const report = fuseCandidates(m, analyzeModel(m).scan.candidates);
      if (options) {
        // The folds scaled weights still in the file: recorded, not read (the save applies them while copying).
        const overwritten = report.applied.flatMap((a) => a.changedTensors.filter((x) => x.storage === 'overwritten' && x.role === 'weight').map((x) => x.after.name));
        assert.ok(overwritten.length > 0, `${c}: a fold overwrote a weight`);
        for (const name of overwritten) assert.notEqual(lazyRawDataLength(m.graph.initializer.find((t) => t.name === name)!), undefined, `${c}: '${name}' was read by the fold`);
      }
      const out = path.join(dir, `${c}-fused-${options ? 'lazy' : 'full'}.onnx`);
      await saveModel(m, out, { force: true });
      m.close();
      outs.push(fs.readFileSync(out));
    }
    assert.ok(outs[0].equals(outs[1]), `${c}: fused output`);
  }
});

test('on-demand load: a weight scaled by a fold and then read gives the scaled values (what the diff view shows)', () => {
  const c = FUSION_CASES.filter((x) => !x.includes('dynamo'))[0];
  const full = OnnxModel.load(fixture(c, 'model.onnx'));
  const lazy = OnnxModel.load(fixture(c, 'model.onnx'), ON_DEMAND);
  const a = fuseCandidates(full, analyzeModel(full).scan.candidates);
  fuseCandidates(lazy, analyzeModel(lazy).scan.candidates);
  const name = a.applied[0].changedTensors.find((x) => x.storage === 'overwritten')!.after.name;
  const t = (m: OnnxModel) => m.graph.initializer.find((x) => x.name === name)!;
  assert.deepEqual(Buffer.from(lazy.tensorBytes(t(lazy))), Buffer.from(full.tensorBytes(t(full))));
  assert.equal(lazyRawDataLength(t(lazy)), undefined);
  full.close();
  lazy.close();
});

test('on-demand load: a file rewritten after opening is refused when a payload is read, never read half old, half new', () => {
  const file = path.join(dir, 'changing.onnx');
  fs.copyFileSync(MODELS[0], file);
  const m = OnnxModel.load(file, ON_DEMAND);
  const big = m.graph.initializer.find((t) => lazyRawDataLength(t) !== undefined);
  assert.ok(big, 'a payload was left in the file');
  fs.appendFileSync(file, Buffer.from([0]));
  assert.throws(() => m.tensorBytes(big), (err: unknown) => err instanceof ModelFuseError && /changed on disk/.test(err.message));
  m.close();
});

test('save after an on-demand load copies untouched payloads from the input file without reading them (embedded and moved to external data)', async () => {
  for (const file of MODELS.slice(0, 3)) {
    const full = OnnxModel.load(file);
    for (const embeddedLimit of [undefined, 0]) {
      const lazy = OnnxModel.load(file, ON_DEMAND);
      const pending = lazy.graph.initializer.filter((t) => lazyRawDataLength(t) !== undefined);
      assert.ok(pending.length > 0, `${file}: payloads were left in the file`);
      const out = path.join(dir, `copied-${path.basename(path.dirname(file))}-${embeddedLimit ?? 'embedded'}.onnx`);
      await saveModel(lazy, out, { force: true, embeddedLimit, externalizeMinBytes: 1 });
      // Still pending: the save never pulled them into memory.
      for (const t of pending) assert.notEqual(lazyRawDataLength(t), undefined, `${file}: '${t.name}' was read`);
      lazy.close();
      const back = OnnxModel.load(out);
      assert.equal(back.graph.initializer.length, full.graph.initializer.length);
      for (const [i, t] of full.graph.initializer.entries()) {
        assert.deepEqual(Buffer.from(back.tensorBytes(back.graph.initializer[i])), Buffer.from(full.tensorBytes(t)), `${file}: ${t.name}`);
      }
      const inputExternal = full.graph.initializer.some((t) => t.data_location === 1);
      assert.equal(fs.existsSync(`${out}.data`), embeddedLimit === 0 || inputExternal);
      back.close();
    }
    full.close();
  }
});

test('save after an on-demand load refuses an input rewritten since it was opened (no output appears)', async () => {
  const file = path.join(dir, 'changing-before-save.onnx');
  fs.copyFileSync(MODELS[0], file);
  const m = OnnxModel.load(file, ON_DEMAND);
  fs.appendFileSync(file, Buffer.from([0]));
  const out = path.join(dir, 'never-written.onnx');
  await assert.rejects(saveModel(m, out, { force: true }), (err: unknown) => err instanceof ModelFuseError && /changed on disk/.test(err.message));
  assert.ok(!fs.existsSync(out));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('never-written')), []);
  m.close();
});

const rng = mulberry32;

test('fuzz: on a mutated file, on-demand load gives exactly the outcome of a full load (same scan or same error)', () => {
  const file = path.join(dir, 'mutant.onnx');
  let same = 0;
  let errors = 0;
  for (const [mi, source] of MODELS.entries()) {
    const src = fs.readFileSync(source);
    const r = rng(500 + mi);
    for (let i = 0; i < 150; i++) {
      const pos = Math.floor(r() * src.length);
      let bytes: Buffer;
      switch (Math.floor(r() * 3)) {
        case 0:
          bytes = Buffer.from(src);
          for (let k = 0; k < 1 + Math.floor(r() * 4); k++) bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
          break;
        case 1: bytes = src.subarray(0, pos); break;
        default: bytes = Buffer.concat([src.subarray(0, pos), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), src.subarray(Math.min(src.length, pos + 1))]);
      }
      if (bytes.length === 0) continue;
      fs.writeFileSync(file, bytes);
      const full = outcome(file);
      assert.equal(outcome(file, ON_DEMAND), full, `${source}, mutation ${i}`);
      same++;
      if (full.startsWith('error: ')) errors++;
    }
  }
  assert.ok(errors > 50 && same - errors > 50, `${same} compared, ${errors} errors`);
});
