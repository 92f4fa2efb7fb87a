/**
 * The real unmerged PEFT exports: after `fuse`, no LoRA branch is left (as
 * many MatMul/Gemm/Conv/Gather nodes as PEFT's merged base model), ONNX
 * Runtime on the result reproduces PyTorch's merged output, and every folded
 * weight equals PEFT's `merge_and_unload()` weight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { fixture, maxRelDiff } from '../helpers/fixtures';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { tensorDims } from '../../../extension/engine/onnx/tensors';
import { DataType, loraCandidates, opCount, run, scanAndFuse, type Feed } from './helpers';

const LAYER_OPS = ['MatMul', 'Gemm', 'Conv', 'Gather'];

const EXPECTED: Record<string, { modules: string[]; base: string[] }> = {
  lora_linear_qv: { modules: ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj'], base: ['MatMul'] },
  lora_conv: { modules: ['conv1', 'conv2', 'fc'], base: ['Conv', 'Gemm'] },
};

function inputFeed(io: SafetensorsFile, name: string): Feed {
  const e = io.get(`input.${name}`);
  return { dims: e.shape, values: io.readFloat64(`input.${name}`), dtype: e.dtype === 'I64' ? DataType.INT64 : DataType.FLOAT };
}

for (const name of Object.keys(EXPECTED)) {
  test(`${name}: fuse folds every LoRA branch of the PEFT export and ORT reproduces merged_output.y`, async () => {
    const unmerged = fs.readFileSync(fixture(name, 'peft_unmerged.onnx'));
    const base = OnnxModel.load(fixture(name, 'base.onnx'));
    const io = SafetensorsFile.open(fixture(name, 'io.safetensors'));
    try {
      const { candidates, report, model, bytes } = scanAndFuse(unmerged);
      const lora = loraCandidates(candidates);
      assert.deepEqual(lora.map((c) => c.details?.module), EXPECTED[name].modules);
      assert.deepEqual(lora.map((c) => c.modules), EXPECTED[name].modules.map((m) => [m]), 'one module per candidate: the adapted layer');
      for (const c of lora) {
        assert.equal(c.blocked, null, c.id);
        assert.equal(c.details?.adapters, 1);
        assert.equal(c.details?.scale, 2); // lora_alpha / r = 8/4 and 4/2
        assert.ok(EXPECTED[name].base.includes(String(c.details?.base)));
      }
      const applied = report.applied.filter((a) => a.pattern === 'lora-branch').map((a) => a.id);
      assert.deepEqual(applied, lora.map((c) => c.id));

      for (const op of LAYER_OPS) assert.equal(opCount(model, op), opCount(base, op), `${op} nodes after the fold vs base.onnx`);
      assert.equal(loraCandidates(scanAndFuse(bytes).candidates).length, 0, 'a second scan finds no branch');

      const inputName = model.graph.input[0].name ?? '';
      const out = await run(bytes, { [inputName]: inputFeed(io, inputName) });
      const expected = io.readFloat64('merged_output.y');
      // Relative per element; entries within 1e-3 of zero are compared against 1e-3 (PyTorch's own merged and
      // unmerged outputs differ by 7e-5 relative on such a tiny entry of lora_linear_qv).
      assert.ok(maxRelDiff(out.y, expected, 1e-3) < 1e-4, `max rel diff ${maxRelDiff(out.y, expected, 1e-3)}`);
    } finally {
      io.close();
      base.close();
    }
  });

  test(`${name}: every folded weight equals PEFT's merge_and_unload() weight`, () => {
    const merged = SafetensorsFile.open(fixture(name, 'merged.safetensors'));
    try {
      const { candidates, report, model } = scanAndFuse(fs.readFileSync(fixture(name, 'peft_unmerged.onnx')));
      for (const c of loraCandidates(candidates)) {
        const applied = report.applied.find((a) => a.id === c.id);
        const change = applied?.changedTensors.find((t) => t.role === 'weight');
        assert.ok(change, `${c.id}: weight change recorded`);
        const t = model.graph.initializer.find((x) => x.name === change.after.name)!;
        const ours = model.tensorValues(t);
        const theirs = merged.readFloat64(`${c.details?.module}.weight`);
        const dims = tensorDims(t);
        // PyTorch keeps Linear weights [out, in]; a TorchScript MatMul reads them transposed, [in, out].
        const aligned = c.details?.base === 'MatMul' ? transpose(ours, dims[0], dims[1]) : ours;
        assert.deepEqual(c.details?.base === 'MatMul' ? [dims[1], dims[0]] : dims, merged.get(`${c.details?.module}.weight`).shape);
        // PEFT rounds B·A, the scaling and the sum to float32 separately; we round once. Where W + ΔW cancels to
        // almost nothing that difference is large relative to the tiny result, so entries below 1e-2 are compared against 1e-2.
        assert.ok(maxRelDiff(aligned, theirs, 1e-2) < 1e-6, `${c.details?.module}: ${maxRelDiff(aligned, theirs, 1e-2)}`);
      }
    } finally {
      merged.close();
    }
  });
}

function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}
