import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getHandler, RequestCancellation, type HandlerContext } from '../../../extension/workerProcess/registry';
import '../../../extension/workerProcess/handlers/paramDiff';
import type { ModuleInspection, ParamDiffSummary } from '../../../extension/protocol/diffMethods';
import { inspectModule } from '../../../extension/engine/stats/moduleParams';
import { SafetensorsParamSource } from '../../../extension/engine/stats/paramSource';
import { ModelFuseError, CancelledError } from '../../../extension/engine/errors';
import { fixture, tempDir } from '../helpers/fixtures';

function context(cancel = new RequestCancellation()): HandlerContext & { messages: string[] } {
  const messages: string[] = [];
  return { id: 1, token: cancel, throwIfCancelled: () => cancel.throwIfCancelled(), progress: (m) => messages.push(m), messages };
}

test('paramDiff handler returns a structured-cloneable summary, far smaller than the weights', async () => {
  const handler = getHandler('diff/params')!;
  const ctx = context();
  const result = (await handler({ before: fixture('lora_linear_qv', 'base.safetensors'), after: fixture('lora_linear_qv', 'merged.safetensors'), bins: 32 }, ctx)) as ParamDiffSummary;
  assert.equal(result.changed.length, 4);
  assert.equal(result.bins, 32);
  assert.ok(ctx.messages.length > 0);
  const cloned = structuredClone(result);
  assert.deepEqual(cloned, result);
  assert.ok(result.changed.every((t) => !('values' in t)));
});

test('paramDiff handler: a missing file is one clear error naming it; cancellation stops it', async () => {
  const handler = getHandler('diff/params')!;
  const missing = path.join(tempDir(), 'nope.onnx');
  await assert.rejects(async () => handler({ before: missing, after: fixture('lora_conv', 'base.onnx') }, context()), (e: unknown) => e instanceof ModelFuseError && e.message === `${missing}: file not found`);
  const cancel = new RequestCancellation();
  cancel.cancel();
  await assert.rejects(async () => handler({ before: fixture('lora_conv', 'base.safetensors'), after: fixture('lora_conv', 'merged.safetensors') }, context(cancel)), CancelledError);
});

test('inspectModule: own tensors with exact statistics; a container lists its submodules; the model is reopened when it changes', async () => {
  const src = SafetensorsParamSource.open(fixture('lora_conv', 'base.safetensors'));
  const conv1 = inspectModule(src, 'conv1', 8);
  assert.deepEqual(conv1.tensors.map((t) => t.name), ['conv1.weight', 'conv1.bias']);
  const w = src.values('conv1.weight');
  const mean = w.reduce((a, b) => a + b, 0) / w.length;
  const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
  const t = conv1.tensors[0];
  assert.deepEqual(t.shape, [8, 3, 3, 3]);
  assert.equal(t.dtype, 'float32');
  assert.ok(Math.abs(t.mean! - mean) < 1e-15 && Math.abs(t.std! - std) < 1e-15);
  assert.equal(t.min, Math.min(...w));
  assert.equal(t.max, Math.max(...w));
  assert.equal(t.histogram.counts.reduce((a, b) => a + b, 0), w.length);
  assert.equal(conv1.parameters, 8 * 27 + 8);
  src.close();

  const llm = SafetensorsParamSource.open(fixture('lora_linear_qv', 'base.safetensors'));
  const block = inspectModule(llm, 'layers.1.attn');
  // Submodules in file order, weight before bias within each.
  assert.deepEqual(block.tensors.map((x) => x.name), [
    'layers.1.attn.k_proj.weight', 'layers.1.attn.k_proj.bias', 'layers.1.attn.o_proj.weight',
    'layers.1.attn.q_proj.weight', 'layers.1.attn.q_proj.bias', 'layers.1.attn.v_proj.weight', 'layers.1.attn.v_proj.bias',
  ]);
  assert.equal(block.omitted, 0);
  assert.equal(block.parameters, 4 * 32 * 32 + 3 * 32);
  llm.close();

  const handler = getHandler('model/inspectModule')!;
  const dir = tempDir();
  const file = path.join(dir, 'w.safetensors');
  fs.copyFileSync(fixture('lora_conv', 'base.safetensors'), file);
  const first = (await handler({ path: file, module: 'fc' }, context())) as ModuleInspection;
  assert.deepEqual(first.tensors.map((x) => x.name), ['fc.weight', 'fc.bias']);
  fs.copyFileSync(fixture('lora_conv', 'merged.safetensors'), file);
  const second = (await handler({ path: file, module: 'fc' }, context())) as ModuleInspection;
  assert.notEqual(second.tensors[0].l2, first.tensors[0].l2, 'merged fc weights differ: the cached file was reopened');
});
