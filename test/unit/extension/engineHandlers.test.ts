/**
 * The extension's worker methods (model/overview, fusion/fuse, lora/plan,
 * lora/merge) through a real worker process and real ONNX Runtime, as the
 * extension host calls them.
 */
import { wordPlanSummary } from '../../../extension/engine/lora/planSummary';
import { cliConfigSource, cliText } from '../../../extension/cli/remedyText';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ModelFuseError } from '../../../extension/engine/errors';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { WorkerClient } from '../../../extension/workerClient/client';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { fixture, maxRelDiff, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';
import { analyzePythonSource } from '../../../extension/engine/python/analyzePython';
import { remedyOf } from '../../../extension/engine/remedy';
import { tiedFixture } from '../helpers/tiedLora';

const client = new WorkerClient({ workerPath: testBundles().worker, threads: 1 });
after(() => client.dispose());

function copyFixture(name: string, file = 'model.onnx'): string {
  const dir = tempDir();
  const to = path.join(dir, file);
  fs.copyFileSync(fixture(name, file), to);
  return to;
}

test('model/overview: the worker scans the model and returns candidates, module tree and fuse list', async () => {
  const model = copyFixture('zoo_resstyle');
  const progress: string[] = [];
  const o = await client.request('model/overview', { path: model }, { onProgress: (p) => progress.push(p.message) });
  assert.equal(o.kind, 'onnx');
  if (o.kind !== 'onnx') return;
  const local = OnnxModel.load(model);
  try {
    const expected = analyzeModel(local).scan.candidates.map((c) => c.id);
    assert.deepEqual(o.candidates.map((c) => c.id), expected, 'the same candidates as an in-process scan');
  } finally {
    local.close();
  }
  assert.ok(o.modules && o.modules.children.some((m) => m.path === 'blocks'));
  assert.match(o.fuseList?.python ?? '', /torch\.ao\.quantization\.fuse_modules\(model, \[/);
  assert.ok(o.fuseList?.excluded.some((e) => e.modules.includes('relu')), 'the shared-relu groups are left out of the fuse list');
  assert.ok(progress.length >= 2, 'progress was reported');
});

test('model/overview: a truncated model is one clear error naming the file', async () => {
  const dir = tempDir();
  const broken = path.join(dir, 'broken.onnx');
  const bytes = fs.readFileSync(fixture('zoo_resstyle', 'model.onnx'));
  fs.writeFileSync(broken, bytes.subarray(0, bytes.length >> 1));
  await assert.rejects(client.request('model/overview', { path: broken }), (e: Error) => e instanceof ModelFuseError && e.message.startsWith(`${broken}: not a valid ONNX model`));
});

test('model/overview: relative paths are refused (the host always passes absolute ones)', async () => {
  await assert.rejects(client.request('model/overview', { path: 'model.onnx' }), /absolute paths/);
});

test('fusion/fuse: writes the fused model beside the input, which ONNX Runtime verifies; the input is untouched', async () => {
  const model = copyFixture('zoo_resstyle');
  const before = fs.readFileSync(model);
  const o = await client.request('model/overview', { path: model });
  if (o.kind !== 'onnx') throw new Error('expected onnx');
  const ids = o.candidates.filter((c) => c.modules.includes('blocks.0.conv2') || c.modules.includes('head.0')).map((c) => c.id);
  assert.equal(ids.length, 2);
  const output = path.join(path.dirname(model), 'model.fused.onnx');
  const r = await client.request('fusion/fuse', { model, output, candidateIds: ids });
  assert.deepEqual(r.applied.map((a) => a.id), ids);
  assert.equal(r.nodesBefore - r.nodesAfter, 2, 'two BatchNormalization nodes folded away');
  assert.ok(fs.existsSync(output));
  assert.ok(fs.readFileSync(model).equals(before), 'the input is unchanged');
  const v = await client.request('verify/run', { modelA: model, modelB: output, inputs: fixture('zoo_resstyle', 'io.safetensors'), runs: 0 });
  assert.equal(v.passed, true, JSON.stringify(v.outputs));
  // The same output path again: refused, not overwritten.
  const written = fs.readFileSync(output);
  await assert.rejects(client.request('fusion/fuse', { model, output, candidateIds: ids }), /file exists/);
  assert.ok(fs.readFileSync(output).equals(written));
});

test('fusion/fuse: only grouping-only sequences selected → nothing is written and the reason is given', async () => {
  const model = copyFixture('zoo_linear');
  const o = await client.request('model/overview', { path: model });
  if (o.kind !== 'onnx') throw new Error('expected onnx');
  const grouping = o.candidates.filter((c) => !c.folds).map((c) => c.id);
  assert.ok(grouping.length > 0);
  const output = path.join(path.dirname(model), 'model.fused.onnx');
  await assert.rejects(client.request('fusion/fuse', { model, output, candidateIds: grouping }), (e: Error) => e instanceof ModelFuseError && /nothing was fused/.test(e.message) && /nothing to fold/.test(e.message));
  assert.equal(fs.existsSync(output), false);
});

test('lora/plan + lora/merge: the merged model computes what PEFT’s unmerged export computes', async () => {
  const dir = tempDir();
  const base = path.join(dir, 'base.onnx');
  fs.copyFileSync(fixture('lora_linear_qv', 'base.onnx'), base);
  const adapter = fixture('lora_linear_qv', 'adapters');
  const plan = await client.request('lora/plan', { base, adapters: [{ path: adapter, weight: 1 }] });
  assert.equal(plan.errors.length, 0);
  assert.equal(plan.unmatched.length, 0);
  assert.deepEqual(plan.pairs.map((p) => p.module).sort(), ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj']);
  assert.ok(plan.pairs.every((p) => p.scale === 2 && p.rank === 4 && p.evidence.length > 0), 'alpha 8 / r 4');
  const output = path.join(dir, 'base.merged.onnx');
  const merged = await client.request('lora/merge', { base, adapters: [{ path: adapter, weight: 1 }], output, allowUnmatched: false });
  assert.equal(merged.merged.length, 4);
  const v = await client.request('verify/run', { modelA: fixture('lora_linear_qv', 'peft_unmerged.onnx'), modelB: output, inputs: fixture('lora_linear_qv', 'io.safetensors'), runs: 0 });
  assert.equal(v.passed, true, JSON.stringify(v.outputs));
});

test('lora/plan returns the summary `modelfuse lora plan --json` prints (one function in the engine), plus the plan to merge', async () => {
  const base = fixture('lora_conv', 'base.onnx');
  const adapter = fixture('lora_conv', 'adapters');
  const { planned, ...summary } = await client.request('lora/plan', { base, adapters: [{ path: adapter, weight: 1 }] });
  const cli = spawnSync(process.execPath, [testBundles().cli, 'lora', 'plan', base, '--adapter', adapter, '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  // The worker sends phrases (the extension words them its own way); in the CLI's words they are what it prints.
  assert.deepEqual(JSON.parse(JSON.stringify(wordPlanSummary(summary, cliText, cliConfigSource))), JSON.parse(cli.stdout));
  assert.deepEqual(planned.pairs.map((p) => p.target), summary.pairs.map((p) => p.target));
});

test('lora/merge with the plan lora/plan returned: merges exactly its pairings, and refuses it once a file changed', async () => {
  const dir = tempDir();
  const base = path.join(dir, 'base.onnx');
  fs.copyFileSync(fixture('lora_linear_qv', 'base.onnx'), base);
  const adapter = path.join(dir, 'adapters');
  fs.cpSync(fixture('lora_linear_qv', 'adapters'), adapter, { recursive: true });
  const adapters = [{ path: adapter, weight: 1 }];
  const plan = await client.request('lora/plan', { base, adapters });
  assert.deepEqual(plan.planned.pairs.map((p) => p.module), plan.pairs.map((p) => p.module));
  // Only q_proj of layer 0 kept in the plan: the merge does what the plan says, not what matching would find again.
  const onlyOne = { ...plan.planned, pairs: plan.planned.pairs.filter((p) => p.module === 'layers.0.attn.q_proj') };
  const output = path.join(dir, 'one.onnx');
  const merged = await client.request('lora/merge', { base, adapters, output, planned: onlyOne });
  assert.deepEqual(merged.merged.map((m) => m.target), [onlyOne.pairs[0].target]);
  // The adapter changed after planning: the plan is refused and nothing is written.
  const weights = path.join(adapter, 'adapter_model.safetensors');
  fs.appendFileSync(weights, Buffer.alloc(0));
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(weights, later, later);
  const stale = path.join(dir, 'stale.onnx');
  await assert.rejects(client.request('lora/merge', { base, adapters, output: stale, planned: plan.planned }), /adapter_model\.safetensors: changed since the merge was planned; plan it again/);
  assert.equal(fs.existsSync(stale), false);
  // A plan with a relative path is not taken.
  await assert.rejects(client.request('lora/merge', { base, adapters, output: stale, planned: { ...plan.planned, basePath: 'base.onnx' } }), /absolute/);
});

test('lora/merge: a zero-length adapter list and a non-numeric weight are refused', async () => {
  const base = fixture('lora_linear_qv', 'base.onnx');
  await assert.rejects(client.request('lora/plan', { base, adapters: [] }), /at least one adapter/);
  await assert.rejects(client.request('lora/plan', { base, adapters: [{ path: fixture('lora_linear_qv', 'adapters'), weight: Number.NaN }] }), /weight must be a number/);
});

test('lora/merge into a safetensors base matches PEFT’s merge_and_unload()', async () => {
  const dir = tempDir();
  const base = path.join(dir, 'base.safetensors');
  fs.copyFileSync(fixture('lora_linear_qv', 'base.safetensors'), base);
  const output = path.join(dir, 'base.merged.safetensors');
  const r = await client.request('lora/merge', { base, adapters: [{ path: fixture('lora_linear_qv', 'adapters'), weight: 1 }], output, allowUnmatched: false });
  assert.equal(r.merged.length, 4);
  const ours = SafetensorsFile.open(output);
  const peft = SafetensorsFile.open(fixture('lora_linear_qv', 'merged.safetensors'));
  try {
    assert.deepEqual(ours.names().sort(), peft.names().sort());
    for (const name of peft.names()) {
      assert.ok(maxRelDiff(ours.readFloat64(name), peft.readFloat64(name), 1e-3) < 1e-5, `${name} differs from PEFT's merge`);
    }
  } finally {
    ours.close();
    peft.close();
  }
});

test("model/overview with the model's Python definition (the extension's --python): the folded BatchNorms get names, the same groups as fuse-list --python", async () => {
  // The model alone in its folder: no state dict beside it names the BatchNorms the exporter folded.
  const dir = tempDir();
  const model = path.join(dir, 'exported.onnx');
  fs.copyFileSync(fixture('exporter-folded', 'stem_block', 'model.onnx'), model);
  const pyFile = fixture('exporter-folded', 'stem_block', 'model.py');

  const bare = await client.request('model/overview', { path: model });
  assert.ok(bare.kind === 'onnx' && bare.fuseList);
  const unnamedBefore = bare.candidates.filter((c) => c.details?.unnamedBatchNorm);
  assert.ok(unnamedBefore.length >= 2, 'without a definition the folded BatchNorms are unnamed, each saying why');
  assert.ok(!bare.fuseList.groups.some((g) => g.includes('bn')), "no group names 'bn' without a definition");

  const analysis = await analyzePythonSource(fs.readFileSync(pyFile, 'utf8'));
  const named = await client.request('model/overview', { path: model, python: { file: 'model.py', classes: analysis.classes } });
  assert.ok(named.kind === 'onnx' && named.fuseList);
  assert.deepEqual(named.candidates.map((c) => c.id), bare.candidates.map((c) => c.id), 'the same sequences (ids stay valid for fusion/fuse)');
  assert.ok(named.candidates.filter((c) => c.details?.unnamedBatchNorm).length < unnamedBefore.length, 'the definition named folded BatchNorms');

  const cli = spawnSync(process.execPath, [path.resolve(__dirname, '../../../dist/cli.js'), 'fuse-list', model, '--python', pyFile], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const cliGroups = [...cli.stdout.matchAll(/^ {4}\[(.*)\],/gm)].map((m) => [...m[1].matchAll(/'([^']*)'/g)].map((q) => q[1]));
  assert.ok(cliGroups.some((g) => g.join() === 'conv,bn,act'), cli.stdout);
  assert.deepEqual(named.fuseList.groups, cliGroups, 'the extension offers exactly the groups the CLI prints with --python');

  // The Graph tab of the same model (requested after the overview, as the editor does) names what the overview names.
  const graph = await client.request('graph/open', { path: model });
  const labelsOf = (marks: { label: string }[]) => marks.map((m) => m.label).sort();
  assert.deepEqual(labelsOf(graph.sequences), labelsOf(named.candidates), 'the graph labels the sequences as the overview does');
  assert.ok(graph.sequences.some((m) => m.modules.includes('bn')), 'the graph names the folded BatchNorm too');
  // Back without the definition: both forget it.
  const again = await client.request('model/overview', { path: model });
  assert.ok(again.kind === 'onnx' && again.candidates.some((c) => c.details?.unnamedBatchNorm));
  assert.ok(!(await client.request('graph/open', { path: model })).sequences.some((m) => m.modules.includes('bn')), 'the graph dropped the names with the definition');

  await assert.rejects(client.request('model/overview', { path: model, python: { file: 'model.py' } as never }), /python must be \{ file, classes \}/);
});

test('a shared base weight, as "Merge LoRA Adapter…" handles it: lora/plan refuses with the remedy, the chosen policy plans and merges', async () => {
  const f = tiedFixture();
  const adapters = [{ path: f.adapter, weight: 1 }];
  const refused = await client.request('lora/plan', { base: f.base, adapters });
  const remedies = refused.errors.map(remedyOf);
  assert.deepEqual(remedies, [{ kind: 'shared-initializer', module: 'l1', node: '/l1/Gemm', options: ['untie', 'all'] }], 'the host finds the shared weight by its remedy, not by its words');

  for (const shared of ['untie', 'all'] as const) {
    const plan = await client.request('lora/plan', { base: f.base, adapters, plan: { shared } });
    assert.deepEqual(plan.errors, [], `${shared}: the plan merges`);
    const output = path.join(f.dir, `merged-${shared}.onnx`);
    await client.request('lora/merge', { base: f.base, adapters, output, planned: plan.planned });
    const merged = OnnxModel.load(output);
    const original = OnnxModel.load(f.base);
    try {
      const inputOf = (node: string) => merged.graph.node!.find((n) => n.name === node)!.input![1];
      const values = (m: OnnxModel, name: string) => m.tensorValues(m.graph.initializer!.find((t) => t.name === name)!);
      const base = values(original, 'onnx::Gemm_1');
      if (shared === 'untie') {
        assert.notEqual(inputOf('/l1/Gemm'), 'onnx::Gemm_1', 'the adapted node reads its own copy');
        assert.equal(inputOf('/other/Gemm'), 'onnx::Gemm_1');
        assert.deepEqual(values(merged, 'onnx::Gemm_1'), base, 'the other reader keeps the base weight');
        assert.ok(maxRelDiff(values(merged, inputOf('/l1/Gemm')), base) > 1e-3, 'the copy is merged');
      } else {
        assert.equal(inputOf('/l1/Gemm'), 'onnx::Gemm_1');
        assert.equal(inputOf('/other/Gemm'), 'onnx::Gemm_1');
        assert.ok(maxRelDiff(values(merged, 'onnx::Gemm_1'), base) > 1e-3, 'the shared weight is merged for every reader');
      }
    } finally {
      merged.close();
      original.close();
    }
  }
});
