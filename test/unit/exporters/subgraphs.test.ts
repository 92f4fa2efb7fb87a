/**
 * Models whose weights live in Constant nodes inside If branches (as silero
 * VAD keeps them): the summary counts those weights, and the bodies are
 * listed as not scanned with the reason instead of a bare "nothing found".
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { scanModel, SUBGRAPH_NOT_SCANNED } from '../../../extension/engine/fusion/scan';
import { tempDir } from '../helpers/fixtures';
import { GraphBuilder, modelProto } from './exporterGraph';
import { writeModel } from '../helpers/onnxBuilder';

/** out = If(cond) then Conv(x, W8k)+ReLU else Conv(x, W16k): the weights are Constant nodes inside the branches. */
function ifModel(dir: string): string {
  const branch = (name: string, channels: number, relu: boolean): onnx.GraphProto => {
    const b = new GraphBuilder();
    const w = b.constant(`${name}_w`, [channels, 3, 3, 3], { storage: 'constant-node', nodeName: `${name}_const` });
    b.node('Conv', `${name}_conv`, ['x', w], [relu ? `${name}_c` : `${name}_out`], { pads: [1, 1, 1, 1] });
    if (relu) b.node('Relu', `${name}_relu`, [`${name}_c`], [`${name}_out`]);
    b.output(`${name}_out`);
    return b.graph(name);
  };
  const g = new GraphBuilder();
  g.input('x', [1, 3, 8, 8]).input('cond', [], DataType.BOOL);
  // A weight of the main graph as a Constant node (tf2onnx style) is a weight too.
  const s = g.constant('scale', [1, 3, 1, 1], { storage: 'constant-node', nodeName: 'scale_const' });
  g.node('Mul', 'scale_mul', ['x', s], ['xs']);
  g.node('If', 'branch', ['cond'], ['y'], { then_branch: { graph: branch('then', 4, true) }, else_branch: { graph: branch('else', 4, false) } });
  g.output('y');
  return writeModel(path.join(dir, 'if.onnx'), modelProto(g, { opset: 13, irVersion: 7, producer: 'hand' }));
}

test('Constant-node weights are counted, in If bodies too; the bodies are listed as not scanned', () => {
  const file = ifModel(tempDir());
  const m = OnnxModel.load(file);
  try {
    const { model, candidates } = scanModel(m);
    assert.equal(model.initializers, 0);
    assert.equal(model.parameters, 3 + 2 * 4 * 27, 'scale (3) + two 4×3×3×3 kernels');
    assert.deepEqual(model.subgraphs.map((g) => [g.path, g.nodes]), [['branch.then_branch', 3], ['branch.else_branch', 2]]);
    assert.ok(model.subgraphs.every((g) => g.notScanned === SUBGRAPH_NOT_SCANNED));
    assert.deepEqual(candidates, [], 'the Conv + Relu inside then_branch is not offered as if it were in the main graph');
  } finally {
    m.close();
  }
});

test('CLI scan says what was not scanned instead of only "No fusible sequences found"', () => {
  const file = ifModel(tempDir());
  const cli = path.resolve(__dirname, '../../../dist/cli.js');
  const r = spawnSync(process.execPath, [cli, 'scan', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Not scanned: 2 If\/Loop\/Scan bodies with 5 nodes \(branch\.then_branch, branch\.else_branch\)/);
  assert.match(r.stdout, /No fusible sequences found in the main graph\./);
  const j = spawnSync(process.execPath, [cli, 'scan', file, '--json'], { encoding: 'utf8' });
  assert.equal(JSON.parse(j.stdout).model.subgraphs.length, 2);
});
