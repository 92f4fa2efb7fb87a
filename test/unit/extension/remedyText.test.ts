/**
 * The extension never tells a VS Code user to pass a command-line flag:
 * every error code, every remedy and every term the engine leaves to the
 * front end is worded by host/remedyText.ts without a `--flag`, while the
 * CLI's worder (cli/remedyText.ts) still names its flags. And the engine's
 * own texts name no flag at all (they are the front-end-neutral messages).
 * Pure functions: no VS Code needed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODES, fileError, ModelFuseError, type ErrorCode } from '../../../extension/engine/errors';
import { REMEDY_KINDS, neutralText, type Remedy, type RemedyKind, type Term, type TermKind } from '../../../extension/engine/remedy';
import { checkShapeNames, parseIntRange, parseShapeOption, parseShapeOptions, randomInputs, resolveShape } from '../../../extension/engine/stats/inputs';
import { assertPlanUsable, buildPlan, type LoraPlan } from '../../../extension/engine/lora/plan';
import { checkOutputPath } from '../../../extension/engine/io/atomicWrite';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { saveModel } from '../../../extension/engine/onnx/save';
import { WorkerCrashedError } from '../../../extension/protocol/workerProtocol';
import { cliErrorText, cliRemedyText, cliTerm } from '../../../extension/cli/remedyText';
import { vscodeErrorText, vscodeRemedyText, vscodeTerm } from '../../../extension/host/remedyText';
import { fixture, tempDir } from '../helpers/fixtures';
import { rand, writePeftAdapter, writeSafetensors } from '../lora/loraTestUtils';

const FLAG = /(^|\s)--[a-z]/;
const SPEC = { name: 'x', dtype: 'float32', dims: [1, 3] };

/** One real way to meet each error code (the engine's own code paths, not copies of its texts, except where noted). */
function samples(dir: string): Record<ErrorCode, () => unknown> {
  const existing = path.join(dir, 'exists.onnx');
  fs.writeFileSync(existing, 'x');
  const several = path.join(dir, 'several');
  writePeftAdapter(path.join(several, 'a'), { r: 2, lora_alpha: 2 }, {});
  writePeftAdapter(path.join(several, 'b'), { r: 2, lora_alpha: 2 }, {});
  const bare = path.join(dir, 'bare.safetensors');
  const r = rand(3);
  writeSafetensors(bare, { 'base_model.model.fc.lora_A.weight': r([2, 4]), 'base_model.model.fc.lora_B.weight': r([6, 2]) });
  const fakePlan = { basePath: 'base.onnx', errors: [], pairs: [], unmatched: [{ adapter: 'a', module: 'm', keys: [], reason: ['left out by ', { term: 'map-file', file: '/w/base.lora-map.json' }] }] } as unknown as LoraPlan;
  return {
    'inputs/bad-shape': () => parseShapeOption('x'),
    'inputs/shape-twice': () => parseShapeOptions(['x=1', 'x=2']),
    'inputs/bad-int-range': () => parseIntRange('a,b'),
    'inputs/shape-rank': () => resolveShape(SPEC, [1]),
    'inputs/shape-fixed-dim': () => resolveShape(SPEC, [1, 4]),
    'inputs/unknown-input': () => checkShapeNames([SPEC], { y: [1] }),
    'inputs/no-random-values': () => randomInputs([{ name: 's', dtype: 'string', dims: [1] }], {}),
    'inputs/int-range-type': () => randomInputs([{ name: 'm', dtype: 'uint8', dims: [2] }], { intRange: [0, 1000] }),
    'lora/no-adapter': () => buildPlan(path.join(dir, 'none.onnx'), []),
    'lora/bad-adapter-weight': () => buildPlan(path.join(dir, 'none.onnx'), [{ path: 'a', weight: Number.NaN }]),
    'lora/adapter-dir-has-several': () => buildPlan(path.join(dir, 'none.onnx'), [{ path: several, weight: 1 }]),
    'lora/no-adapter-config': () => buildPlan(path.join(dir, 'none.onnx'), [{ path: bare, weight: 1 }]),
    'lora/cannot-merge': () => assertPlanUsable(fakePlan, false),
    'output/exists': () => checkOutputPath(existing, [], false),
    'output/is-input': () => checkOutputPath(existing, [existing], false),
    'output/data-exists': async () => {
      const out = path.join(dir, 'saved.onnx');
      fs.writeFileSync(`${out}.data`, 'x');
      const model = OnnxModel.load(fixture('lora_linear_qv', 'base.onnx'));
      try {
        await saveModel(model, out, { externalizeMinBytes: 1, embeddedLimit: 0 });
      } finally {
        model.close();
      }
    },
    // A race (another process creates the output between the check and the link): built as atomicWrite.ts builds it.
    'output/written-meanwhile': () => {
      throw fileError(existing, ['file exists: another run wrote it meanwhile', { term: 'remedy', remedy: { kind: 'replace-output' } }], undefined, undefined, { code: 'output/written-meanwhile' });
    },
    'worker/crashed': () => {
      throw new WorkerCrashedError('the ONNX Runtime worker exited (signal SIGKILL)');
    },
  };
}

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

test('every error code: the VS Code wording names no flag, the message is neutral, and the CLI wording keeps its flag', async () => {
  const table = samples(tempDir());
  assert.deepEqual(Object.keys(table).sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) {
    const err = await caught(table[code]);
    assert.ok(err instanceof ModelFuseError, `${code}: ${String(err)}`);
    assert.equal(err.code, code);
    const shown = vscodeErrorText(err);
    assert.doesNotMatch(shown, FLAG, `${code}: ${shown}`);
    assert.doesNotMatch(err.message, FLAG, `${code}: ${err.message}`);
    assert.ok(!shown.includes('[object Object]'), shown);
    if (err.remedy) {
      assert.ok(shown.endsWith(vscodeRemedyText(err.remedy)), `${code}: the VS Code text ends with its remedy: ${shown}`);
      assert.match(cliErrorText(err), FLAG, `${code}: the CLI names its flag: ${cliErrorText(err)}`);
    }
  }
});

test('exact wordings of the remedies on both front ends (two examples)', async () => {
  const dir = tempDir();
  const t = samples(dir);
  const exists = (await caught(t['output/exists'])) as ModelFuseError;
  assert.equal(exists.message, `${path.join(dir, 'exists.onnx')}: file exists`);
  assert.equal(cliErrorText(exists), `${path.join(dir, 'exists.onnx')}: file exists (use --force to replace it)`);
  assert.match(vscodeErrorText(exists), /: file exists \(run the command again to write under a free name; the setting modelfuse\.output\.onRepeat decides/);
  const several = (await caught(t['lora/adapter-dir-has-several'])) as ModelFuseError;
  assert.deepEqual(several.data, { adapters: ['a', 'b'] });
  assert.equal(cliErrorText(several), `${path.join(dir, 'several')}: holds several adapters (a, b); pass each one, e.g. --adapter ${path.join(dir, 'several', 'a')}=1`);
  assert.equal(vscodeErrorText(several), `${path.join(dir, 'several')}: holds several adapters (a, b); choose the adapter folders inside it instead (e.g. ${path.join(dir, 'several', 'a')})`);
});

test('every remedy kind and every term: VS Code words without a flag, the CLI with its flag', () => {
  const remedies: Record<RemedyKind, Remedy> = {
    'shared-initializer': { kind: 'shared-initializer', module: 'lm_head', node: '/lm_head/MatMul', options: ['untie', 'all'] },
    'pick-one-pairing': { kind: 'pick-one-pairing' },
    'unmatched-modules': { kind: 'unmatched-modules' },
    'choose-adapter': { kind: 'choose-adapter' },
    'one-adapter-each': { kind: 'one-adapter-each', example: '/w/adapters/a' },
    'adapter-alpha': { kind: 'adapter-alpha' },
    'replace-output': { kind: 'replace-output' },
    'inputs-file': { kind: 'inputs-file' },
  };
  assert.deepEqual(Object.keys(remedies).sort(), [...REMEDY_KINDS].sort());
  for (const r of Object.values(remedies)) {
    assert.doesNotMatch(vscodeRemedyText(r), FLAG, r.kind);
    assert.ok(vscodeRemedyText(r).trim().length > 0, r.kind);
    assert.match(cliRemedyText(r), FLAG, r.kind);
  }
  const terms: Record<TermKind, Term[]> = {
    option: (['shape', 'int-range', 'adapter', 'alpha', 'subtract'] as const).map((option) => ({ term: 'option', option, value: 'v' })),
    'mapped-by-hand': [{ term: 'mapped-by-hand', file: 'base.lora-map.json' }],
    'map-file': [{ term: 'map-file', file: '/w/base.lora-map.json' }],
    'shared-policy': [{ term: 'shared-policy', policy: 'untie' }, { term: 'shared-policy', policy: 'all' }],
    remedy: Object.values(remedies).map((remedy) => ({ term: 'remedy', remedy })),
  };
  for (const t of Object.values(terms).flat()) {
    assert.doesNotMatch(vscodeTerm(t), FLAG, JSON.stringify(t));
    assert.doesNotMatch(neutralText([t]), FLAG, JSON.stringify(t));
    assert.match(cliTerm(t), /--[a-z]/, JSON.stringify(t));
  }
  assert.equal(cliTerm({ term: 'shared-policy', policy: 'untie' }), ' (--shared untie)');
  assert.equal(cliTerm({ term: 'map-file', file: '/w/m.json' }), '--map /w/m.json');
  assert.equal(vscodeTerm({ term: 'map-file', file: '/w/m.json' }), 'the key mapping (m.json)');
});

/** The engine's code with comments removed: what remains of `--x` must not be text (a string or template). */
function engineFlagTexts(): string[] {
  const root = path.resolve(__dirname, '../../../extension/engine');
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'generated') walk(p);
      } else if (e.name.endsWith('.ts')) {
        const code = fs.readFileSync(p, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
        code.split('\n').forEach((line, i) => {
          if (/(^|[\s'"`])--[a-z]/.test(line)) found.push(`${path.relative(root, p)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
  };
  walk(root);
  return found;
}

test('no text in the engine names a CLI flag (the front ends word them)', () => {
  assert.deepEqual(engineFlagTexts(), []);
});
