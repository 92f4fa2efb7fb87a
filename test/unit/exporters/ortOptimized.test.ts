/**
 * Models written by ONNX Runtime's own offline optimizer
 * (`optimizedModelFilePath`), which people also ship: at `basic` level the
 * BatchNorms are already folded; at `extended` level Conv + Relu became a
 * `com.microsoft` FusedConv, which is no ONNX-domain Conv and must be left
 * alone. Both go through scan → fuse → ONNX Runtime without a fold.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { tempDir } from '../helpers/fixtures';
import { GraphBuilder, modelProto } from './exporterGraph';
import { describeCandidates, opCount, runPipeline } from './pipeline';
import { writeModel } from '../helpers/onnxBuilder';

const dir = tempDir('modelfuse-ortopt-');

function convBnRelu(): GraphBuilder {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 8, 8]).output('y');
  const w = g.constant('conv.weight', [8, 3, 3, 3]);
  const bn = g.batchNormParams(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 8);
  g.node('Conv', '/conv/Conv', ['x', w], ['c'], { pads: [1, 1, 1, 1] });
  g.node('BatchNormalization', '/bn/BatchNormalization', ['c', ...bn], ['b']);
  g.node('Relu', '/relu/Relu', ['b'], ['y']);
  return g;
}

for (const level of ['basic', 'extended'] as const) {
  test(`a model saved by ONNX Runtime's ${level} optimizer: nothing left to fold, fuse leaves it working`, async () => {
    const source = writeModel(path.join(dir, `source-${level}.onnx`), modelProto(convBnRelu(), { opset: 13, irVersion: 7, producer: 'pytorch', producerVersion: '2.1' }));
    const optimized = path.join(dir, `ort-${level}.onnx`);
    const session = await ort.InferenceSession.create(source, { graphOptimizationLevel: level, optimizedModelFilePath: optimized });
    await session.release();
    const r = await runPipeline(optimized, { x: { dims: [1, 3, 8, 8] } });
    assert.equal(opCount(r.original, 'BatchNormalization'), 0, 'ONNX Runtime folded the BatchNorm itself');
    assert.deepEqual(r.fuse.applied, []);
    if (level === 'extended') {
      assert.ok(r.original.graph.node.some((n) => n.domain === 'com.microsoft'), 'extended level writes com.microsoft ops');
      assert.ok(r.candidates.every((c) => c.pattern !== 'conv-relu'), `a com.microsoft FusedConv is not an ONNX Conv: ${describeCandidates(r.candidates)}`);
    } else {
      assert.ok(r.candidates.some((c) => c.pattern === 'conv-relu' && c.folds === false), describeCandidates(r.candidates));
    }
  });
}
