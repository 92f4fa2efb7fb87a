/**
 * LoRA branches in the side panel and the overview: the real PEFT export goes
 * through the worker's overview code (in process and through a real worker),
 * and the tree items built from it name each adapted module with its rank
 * and scale. Also: opening the model with on-demand weights changes nothing
 * in the overview.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { CandidateView } from '../../../extension/engine/fusion/candidateView';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { DataType } from '../../../extension/engine/onnx/proto';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';
import { loraBranchFacts, toCandidateView } from '../../../extension/engine/fusion/candidateView';
import type { Candidate } from '../../../extension/engine/fusion/candidate';
import { sequenceItem } from '../../../extension/views/treeModel';
import { onnxOverview } from '../../../extension/workerProcess/handlers/modelOverview';
import { overviewOfFile, scanFor } from '../../../extension/workerProcess/handlers/overviewOfFile';
import { WorkerClient } from '../../../extension/workerClient/client';
import { fixture, tempDir } from '../helpers/fixtures';
import { testBundles } from '../worker/bundles';

const quiet = { progress: () => undefined, throwIfCancelled: () => undefined };
const ADAPTED = ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj'];

let client: WorkerClient | undefined;
after(() => client?.dispose());

function loraCandidates(o: ReturnType<typeof overviewOfFile>): CandidateView[] {
  if (o.kind !== 'onnx') throw new Error('expected an ONNX overview');
  return o.candidates.filter((c) => c.pattern === 'lora-branch');
}

test('the Fusible Sequences tree shows each LoRA branch of the PEFT export as module · rank · scale', () => {
  const o = overviewOfFile(fixture('lora_linear_qv', 'peft_unmerged.onnx'), quiet);
  const lora = loraCandidates(o);
  // PEFT config of the fixture: r = 4, lora_alpha = 8 → scale 2, on q_proj and v_proj of both layers.
  assert.deepEqual(lora.map((c) => c.modules), ADAPTED.map((m) => [m]));
  for (const c of lora) {
    const item = sequenceItem(c);
    assert.equal(item.label, 'lora-branch');
    assert.equal(item.description, `${c.modules[0]} · rank 4 · scale 2 — folds exactly`);
    assert.match(item.tooltip, new RegExp(`^\\*\\*lora-branch\\*\\* — ${c.modules[0]!.replace(/\./g, '\\.')} · rank 4 · scale 2  \n`));
    assert.match(item.tooltip, /fusing adds scale · B·A to the weight of its base `MatMul`/);
    assert.equal(item.contextValue, 'sequence.fusible', '"Fuse selected modules" applies to it');
  }
});

test('the worker returns the same overview, rank and scale included, across the IPC channel', async () => {
  client ??= new WorkerClient({ workerPath: testBundles().worker, threads: 1 });
  const file = fixture('lora_linear_qv', 'peft_unmerged.onnx');
  const viaWorker = await client.request('model/overview', { path: file });
  assert.deepEqual(viaWorker, overviewOfFile(file, quiet));
  assert.deepEqual(loraCandidates(viaWorker).map((c) => sequenceItem(c).description), ADAPTED.map((m) => `${m} · rank 4 · scale 2 — folds exactly`));
});

test('loraBranchFacts: stacked adapters and DoRA are named; other patterns and unknown facts add nothing', () => {
  const base: Candidate = { id: 'x', pattern: 'lora-branch', nodes: ['a'], modules: ['m'], folds: true, blocked: null, warnings: [] };
  assert.deepEqual(loraBranchFacts({ ...base, details: { rank: '4+8', scale: '2+0.5', adapters: 2, dora: false } }), ['rank 4+8', 'scale 2+0.5', '2 adapters']);
  assert.deepEqual(loraBranchFacts({ ...base, details: { rank: 16, scale: 0.125, adapters: 1, dora: true } }), ['rank 16', 'scale 0.125', 'DoRA']);
  assert.deepEqual(loraBranchFacts({ ...base, details: { rank: null, adapters: 1 } }), [], 'an unknown rank and no scale add nothing');
  assert.deepEqual(loraBranchFacts(base), []);
  assert.deepEqual(loraBranchFacts({ ...base, pattern: 'matmul-add', details: { rank: 4, scale: 2 } }), []);
  assert.equal(sequenceItem(toCandidateView({ ...base, pattern: 'conv-bn', modules: ['conv', 'bn'] })).description, 'conv → bn — folds exactly');
  assert.match(sequenceItem(toCandidateView({ ...base, details: { rank: 8, scale: 1, adapters: 1, dora: true, base: 'Gemm' } })).tooltip, /fusing rescales the weight of its base `Gemm`/);
});

/**
 * A Linear(256 → 128) with a rank-4 LoRA branch (scale 2), laid out as PEFT
 * exports it; its 128 KiB base weight is above the on-demand threshold, so
 * the overview reads it lazily, if at all.
 */
function writeLoraModelWithLargeWeight(dir: string): string {
  const [inF, outF, r] = [256, 128, 4];
  const vals = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * k) / 8);
  const graph = makeGraph(
    [
      makeNode('MatMul', ['x', 'onnx::MatMul_10'], ['base_mm'], '/proj/base_layer/MatMul'),
      makeNode('Add', ['base_model.model.proj.base_layer.bias', 'base_mm'], ['base'], '/proj/base_layer/Add'),
      makeNode('MatMul', ['x', 'onnx::MatMul_11'], ['down'], '/proj/default/MatMul'),
      makeNode('MatMul', ['down', 'onnx::MatMul_12'], ['up'], '/proj/default_1/MatMul'),
      makeNode('Mul', ['up', 'scale'], ['scaled'], '/proj/Mul'),
      makeNode('Add', ['base', 'scaled'], ['y'], '/proj/Add'),
    ],
    'main_graph',
    [makeValueInfo('x', DataType.FLOAT, ['batch', inF])],
    [makeValueInfo('y', DataType.FLOAT, ['batch', outF])],
    [
      makeTensor('onnx::MatMul_10', DataType.FLOAT, [inF, outF], vals(inF * outF, 0.37)),
      makeTensor('base_model.model.proj.base_layer.bias', DataType.FLOAT, [outF], vals(outF, 1.1)),
      makeTensor('onnx::MatMul_11', DataType.FLOAT, [inF, r], vals(inF * r, 0.53)),
      makeTensor('onnx::MatMul_12', DataType.FLOAT, [r, outF], vals(r * outF, 0.71)),
      makeTensor('scale', DataType.FLOAT, [], [2]),
    ],
  );
  return writeModel(path.join(dir, 'lora_large.onnx'), makeModel(graph, { irVersion: 8, producerName: 'pytorch', producerVersion: '2.11.0', opset: 17 }));
}

test('the overview of a model opened with on-demand weights equals the one from a full load', () => {
  const file = writeLoraModelWithLargeWeight(tempDir());
  const skeleton = OnnxModel.load(file, { weights: 'on-demand' });
  try {
    assert.ok(skeleton.fileBytes.length < skeleton.fileSize - 128 * 1024, 'the base weight is left in the file, so the on-demand path is what this test exercises');
  } finally {
    skeleton.close();
  }
  const full = OnnxModel.load(file);
  let expected: ReturnType<typeof onnxOverview>;
  try {
    expected = onnxOverview(full, scanFor(full));
  } finally {
    full.close();
  }
  const o = overviewOfFile(file, quiet);
  assert.deepEqual(o, expected);
  assert.equal(expected.parameters.count, 256 * 128 + 128 + 256 * 4 + 4 * 128 + 1);
  assert.deepEqual(loraCandidates(o).map((c) => [c.blocked, loraBranchFacts(c)]), [[null, ['rank 4', 'scale 2']]]);
});
