/**
 * Issue 14, item 10: work per byte is bounded. A model of more nodes than the
 * node limit (MODELFUSE_MAX_NODES, default DEFAULT_MAX_NODES) is refused with
 * the count before scan or fuse build anything per node.
 */
import { after, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from '../../../extension/engine/onnx/proto';
import { tempDir } from '../helpers/fixtures';
import { makeGraph, makeModel, writeModel } from '../helpers/onnxBuilder';
import { filesIn, runCli } from './cliRun';

const dir = tempDir('modelfuse-nodes-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function emptyNodes(file: string, count: number): string {
  // The cheapest hostile node: an empty NodeProto is 2 bytes on disk.
  // (not makeNode: that would write an empty name and op_type into each)
  const nodes = Array.from({ length: count }, () => onnx.NodeProto.create({}));
  return writeModel(file, makeModel(makeGraph(nodes, 'g', [], []), { irVersion: 8, opset: 17, producerName: null }));
}

it('a model past the node limit is refused by scan and fuse with its count (exit 2, nothing written)', async () => {
  const model = emptyNodes(path.join(dir, 'many.onnx'), 5001);
  const env = { MODELFUSE_MAX_NODES: '5000' };
  for (const args of [['scan', model], ['fuse', model, '-o', path.join(dir, 'out.onnx')]]) {
    const r = await runCli(args, { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /many\.onnx: has 5001 nodes, more than the limit of 5000 \(set MODELFUSE_MAX_NODES to raise it\)/);
  }
  assert.deepEqual(filesIn(dir), ['many.onnx']);
  const within = await runCli(['scan', model], { env: { MODELFUSE_MAX_NODES: '5001' } });
  assert.equal(within.code, 0, within.stderr);
});
