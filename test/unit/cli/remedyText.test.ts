/**
 * One error, two front ends: an adapter module whose ONNX weight another node
 * reads as well (tied weights). The CLI (dist/cli.js, as a user runs it) words
 * the remedy as its flags, exactly as before; the VS Code extension words the
 * same engine error as the choices "Merge LoRA Adapter…" offers, with no flag in it — also
 * after the error crossed the worker boundary.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ModelFuseError } from '../../../extension/engine/errors';
import { assertPlanUsable, buildPlan } from '../../../extension/engine/lora/plan';
import { errorToPayload, payloadToError } from '../../../extension/protocol/workerProtocol';
import { cliErrorText, cliText } from '../../../extension/cli/remedyText';
import { vscodeErrorText, vscodeText } from '../../../extension/host/remedyText';
import { tiedFixture } from '../helpers/tiedLora';
import { testBundles } from '../worker/bundles';

const FLAG = /(^|\s)--[a-z]/;

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, ...args], { encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const PROBLEM = "initializer 'onnx::Gemm_1' (module 'l1', node '/l1/Gemm') is also read by /other/Gemm (tied weights or exporter deduplication)";

test('CLI: a tied weight is refused with the --shared flags as the remedy, in the words it always printed', () => {
  const f = tiedFixture();
  const out = path.join(f.dir, 'out.onnx');
  const r = cli('lora', f.base, '--adapter', f.adapter, '-o', out);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stderr, `modelfuse lora: ${f.base}: cannot merge: ${PROBLEM}: pass --shared untie to merge only into '/l1/Gemm', or --shared all to change every reader\n`);
  assert.ok(!fs.existsSync(out));

  const plan = cli('lora', 'plan', f.base, '--adapter', f.adapter, '--json');
  assert.equal(plan.code, 2);
  assert.deepEqual(JSON.parse(plan.stdout).errors, [`${PROBLEM}: pass --shared untie to merge only into '/l1/Gemm', or --shared all to change every reader`]);

  const untied = cli('lora', 'plan', f.base, '--adapter', f.adapter, '--shared', 'untie');
  assert.equal(untied.code, 0, untied.stderr);
  assert.match(untied.stdout, /evidence: shared with \/other\/Gemm: '\/l1\/Gemm' gets its own copy '[^']+', the others keep the base \(--shared untie\)/);
});

test("VS Code: the same plan error and the refused merge are worded as Merge LoRA's choices, without a flag, also after the worker boundary", () => {
  const f = tiedFixture();
  const plan = buildPlan(f.base, [{ path: f.adapter, weight: 1 }]);
  let err: unknown;
  try {
    assert.equal(plan.errors.length, 1);
    const [problem] = plan.errors;
    const shown = vscodeText(problem);
    assert.equal(shown, `${PROBLEM}: run “Merge LoRA Adapter…” and choose to give '/l1/Gemm' its own merged copy or to change every reader, or leave 'l1' out in the key mapping to merge the other modules`);
    assert.doesNotMatch(shown, FLAG);
    assert.match(cliText(problem), /: pass --shared untie to merge only into '\/l1\/Gemm', or --shared all/);
    try {
      assertPlanUsable(plan, false);
    } catch (e) {
      err = e;
    }
  } finally {
    plan.close();
  }
  assert.ok(err instanceof ModelFuseError);
  assert.equal(err.code, 'lora/cannot-merge');
  assert.deepEqual(err.remedy, { kind: 'shared-initializer', module: 'l1', node: '/l1/Gemm', options: ['untie', 'all'] });
  assert.equal(err.message, `${f.base}: cannot merge: ${PROBLEM}`, 'the message is the problem alone');
  assert.doesNotMatch(vscodeErrorText(err), FLAG);
  assert.match(vscodeErrorText(err), /its own merged copy or to change every reader, or leave 'l1' out in the key mapping/);

  // The worker sends it to the host (or to the CLI) as JSON: code, data, remedy and both wordings survive.
  const back = payloadToError(JSON.parse(JSON.stringify(errorToPayload(err))), 'lora/merge');
  assert.ok(back instanceof ModelFuseError);
  assert.equal(back.code, err.code);
  assert.deepEqual(back.data, err.data);
  assert.deepEqual(back.remedy, err.remedy);
  assert.equal(back.message, err.message);
  assert.equal(vscodeErrorText(back), vscodeErrorText(err));
  assert.equal(cliErrorText(back), cliErrorText(err));
  assert.match(cliErrorText(back), /--shared untie/);
});
