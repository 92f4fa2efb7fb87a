import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, FUSION_CASES, readCase, tempDir } from '../helpers/fixtures';
import { SafetensorsFile } from '../../../extension/engine/safetensors/safetensors';
import { GraphIndex } from '../../../extension/engine/graph/graphIndex';
import { runOrt } from './helpers/build';
import { relativeToMax, transpose2d } from './helpers/numbers';
import { tensorDims } from '../../../extension/engine/onnx/tensors';
import { fuseFileWith } from './helpers/fuseHelpers';
import { handCandidates } from './fixtureCandidates';

const FOLD_TARGETS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

for (const name of FUSION_CASES) {
  test(`${name}: folded tensors equal PyTorch's, no foldable BatchNormalization is left, ONNX Runtime reproduces output.y`, async () => {
    const dir = tempDir();
    // Copy the model (and its external data) so the fused output lands in a scratch folder.
    for (const f of readCase<{ files: string[] }>(name).files) fs.copyFileSync(fixture(name, f), path.join(dir, f));
    const io = SafetensorsFile.open(fixture(name, 'io.safetensors'));
    const { report, fused, model } = await fuseFileWith(path.join(dir, 'model.onnx'), handCandidates(name));

    const index = new GraphIndex(model.graph);
    for (const bn of model.graph.node.filter((n) => n.op_type === 'BatchNormalization')) {
      const producer = index.producer.get(bn.input![0]);
      assert.ok(!producer || !FOLD_TARGETS.has(producer.op_type ?? ''), `${name}: BatchNormalization '${bn.name}' after ${producer?.op_type} was not folded`);
    }

    // Each fused.<module>.weight/.bias that PyTorch computed equals the tensor the fused model now feeds that module's node.
    const compared: string[] = [];
    for (const key of io.names().filter((k) => k.startsWith('fused.'))) {
      const [, module, role] = /^fused\.(.+)\.(weight|bias)$/.exec(key)!;
      const applied = report.applied.find((a) => a.modules[0] === module);
      let tensorName: string;
      if (applied) {
        tensorName = applied.changedTensors.find((c) => c.role === role)!.after.name;
      } else {
        // Already folded by the exporter (dynamo): the module's own tensors must be PyTorch's folded ones, untouched.
        const node = model.graph.node.find((n) => n.op_type === 'Conv' && n.input![1] === `${module}.weight`)!;
        tensorName = node.input![role === 'weight' ? 1 : 2];
      }
      const t = model.graph.initializer.find((x) => x.name === tensorName)!;
      assert.ok(t, `${name}: no tensor '${tensorName}' for ${key}`);
      // PyTorch's Linear weight is [out, in]; a MatMul weight is [in, out].
      const ours = tensorDims(t).join() === io.get(key).shape.join() ? model.tensorValues(t) : transpose2d(model.tensorValues(t), tensorDims(t));
      // Relative to the tensor's largest value: element-wise, near-zero biases carry PyTorch's own float32
      // cancellation error (its dynamo exporter's fold differs from its fuse_modules by 1.1e-6 there).
      const d = relativeToMax(ours, io.readFloat64(key));
      assert.ok(d <= 1e-6, `${name}: ${key} differs from PyTorch's by ${d} (relative to its largest value)`);
      compared.push(key);
    }
    assert.ok(compared.length >= 2, `${name}: compared ${compared.length} fused tensors`);

    const x = io.get('input.x');
    const out = await runOrt(fused, { x: { dims: x.shape, values: io.readFloat64('input.x') } });
    const y = io.readFloat64('output.y');
    const d = relativeToMax(out.y, y);
    assert.ok(d <= 1e-4, `${name}: fused model output differs from PyTorch's output.y by ${d} (relative)`);
    io.close();
    model.close();
  });
}
