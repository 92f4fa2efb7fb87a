/**
 * `node dist/cli.js lora …` as users call it: the bundled CLI (built fresh
 * for this test), the ONNX Runtime worker for --verify and --matmul ort, the
 * exact --json contract, one-line errors with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixture, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { readAll, relErr } from './loraTestUtils';

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [testBundles().cli, ...args], { encoding: 'utf8', env: { ...process.env, MODELFUSE_ORT_THREADS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('lora --verify --json: exactly { output, merged, unmatched, verification }, verification = base vs merged in ONNX Runtime', () => {
  const dir = tempDir();
  const out = path.join(dir, 'merged.onnx');
  const c = 'lora_linear_qv';
  const r = cli('lora', fixture(c, 'base.onnx'), '--adapter', `${fixture(c, 'adapters')}=1`, '-o', out, '--verify', '--inputs', fixture(c, 'io.safetensors'), '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['output', 'merged', 'unmatched', 'verification']);
  assert.equal(j.output, out);
  assert.equal(j.merged.length, 4);
  for (const m of j.merged) assert.deepEqual(Object.keys(m), ['adapter', 'key', 'target', 'scale', 'delta_fro', 'rel_change']);
  assert.deepEqual(j.unmatched, []);
  assert.equal(j.verification.a, fixture(c, 'base.onnx'));
  assert.equal(j.verification.b, out);
  // the outputs moved by the adapter's effect: compare with PyTorch's own base/merged outputs
  const io = readAll(fixture(c, 'io.safetensors'));
  const expectedMove = Math.max(...Array.from(io['merged_output.y'].values, (v, i) => Math.abs(v - io['base_output.y'].values[i])));
  assert.ok(Math.abs(j.verification.outputs.y.max_abs - expectedMove) <= 1e-4 * expectedMove, `moved ${j.verification.outputs.y.max_abs}, PyTorch ${expectedMove}`);
});

test('lora --matmul ort: B·A by ONNX Runtime in the worker gives the same merge as the JS kernel', () => {
  const dir = tempDir();
  const c = 'lora_conv';
  const [js, ortOut] = [path.join(dir, 'js.safetensors'), path.join(dir, 'ort.safetensors')];
  assert.equal(cli('lora', fixture(c, 'base.safetensors'), '--adapter', fixture(c, 'adapters'), '-o', js).code, 0);
  const r = cli('lora', fixture(c, 'base.safetensors'), '--adapter', fixture(c, 'adapters'), '-o', ortOut, '--matmul', 'ort');
  assert.equal(r.code, 0, r.stderr);
  const [a, b, want] = [readAll(js), readAll(ortOut), readAll(fixture(c, 'merged.safetensors'))];
  for (const name of Object.keys(want)) {
    assert.ok(relErr(b[name].values, a[name].values, 1e-3) <= 1e-6, name);
    assert.ok(relErr(b[name].values, want[name].values, 1e-3) <= 1e-5, name);
  }
});

test('lora errors are one line with exit code 2; lora plan prints the evidence', () => {
  const dir = tempDir();
  const bad = cli('lora', fixture('lora_conv', 'base.onnx'), '--adapter', fixture('lora_linear_qv', 'adapters'), '-o', path.join(dir, 'x.onnx'));
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^modelfuse lora: .*base\.onnx: cannot merge: unmatched: .*'layers\.0\.attn\.q_proj'/);
  const verifySt = cli('lora', fixture('lora_conv', 'base.safetensors'), '--adapter', fixture('lora_conv', 'adapters'), '-o', path.join(dir, 'y.safetensors'), '--verify');
  assert.equal(verifySt.code, 2);
  assert.match(verifySt.stderr, /--verify runs the base and merged models in ONNX Runtime; .* is not an ONNX model/);
  const plan = cli('lora', 'plan', fixture('lora_conv', 'base.onnx'), '--adapter', fixture('lora_conv', 'adapters'));
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /conv2 {2}→ {2}conv2\.weight {2}float32\[8, 8, 3, 3\] {2}\(conv\)/);
  assert.match(plan.stdout, /evidence: initializer name 'conv2\.weight'/);
});

test('lora with every scale 0 (--scale 0, or lora_alpha 0) exits 0 and says that nothing changed; one adapter at weight 0 is named', () => {
  const dir = tempDir();
  const c = 'lora_linear_qv';
  const out = path.join(dir, 'zero.safetensors');
  const r = cli('lora', fixture(c, 'base.safetensors'), '--adapter', fixture(c, 'adapters'), '--scale', '0', '-o', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /note: nothing changes: every matched module's scale is 0 \(lora_alpha 0, an adapter weight of 0 or a global scale of 0\), so the result equals the base/);
  const json = cli('lora', 'plan', fixture(c, 'base.safetensors'), '--adapter', `${fixture(c, 'adapters')}=0`, '--json');
  assert.equal(json.code, 0, json.stderr);
  assert.match(JSON.parse(json.stdout).note, /^nothing changes/);
  const normal = cli('lora', 'plan', fixture(c, 'base.safetensors'), '--adapter', fixture(c, 'adapters'), '--json');
  assert.equal('note' in JSON.parse(normal.stdout), false, 'no note when the adapter changes the weights');
});
