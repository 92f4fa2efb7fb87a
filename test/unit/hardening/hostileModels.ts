/**
 * Hostile ONNX models, built in the tests (no stored binaries): graphs that
 * never end or allocate without bound in ONNX Runtime, folds whose results
 * overflow, ambiguous names, unsorted graphs, huge node counts.
 */
import Long from 'long';
import { DataType } from '../../../extension/engine/onnx/proto';
import { GraphBuilder, modelProto } from '../exporters/exporterGraph';
import { makeGraph, makeNode, makeTensor, makeValueInfo, writeModel } from '../helpers/onnxBuilder';

const INT64_MAX = '9223372036854775807';

/** x → Conv → BatchNormalization → y: one conv-bn fold, with the BN parameters given. */
export function convBn(g: GraphBuilder, bn: { scale?: number[]; variance?: number[] } = {}): GraphBuilder {
  g.input('x', [1, 2, 4, 4]).output('y', [1, 2, 4, 4]);
  g.constant('conv.weight', [2, 2, 3, 3]);
  g.constant('conv.bias', [2]);
  g.node('Conv', 'conv', ['x', 'conv.weight', 'conv.bias'], ['c'], { pads: [1, 1, 1, 1] });
  g.constant('bn.weight', [2], bn.scale ? { values: bn.scale } : { offset: 1, scale: 0.3 });
  g.constant('bn.bias', [2]);
  g.constant('bn.running_mean', [2]);
  g.constant('bn.running_var', [2], bn.variance ? { values: bn.variance } : { positive: true });
  g.node('BatchNormalization', 'bn', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['y']);
  return g;
}

/** A `Loop` with trip count INT64_MAX and a condition that stays true: ONNX Runtime never returns. */
export function addEndlessLoop(g: GraphBuilder, from = 'x', out = 'forever'): GraphBuilder {
  g.parts.initializer.push(
    makeTensor('trip_count', DataType.INT64, [], [Long.fromString(INT64_MAX)], { raw: false }),
    makeTensor('keep_going', DataType.BOOL, [], [1], { raw: false }),
  );
  const body = makeGraph(
    [makeNode('Identity', ['cond_in'], ['cond_out'], 'keep'), makeNode('Identity', ['v_in'], ['v_out'], 'same')],
    'body',
    [makeValueInfo('i', DataType.INT64, []), makeValueInfo('cond_in', DataType.BOOL, []), makeValueInfo('v_in', DataType.FLOAT)],
    [makeValueInfo('cond_out', DataType.BOOL, []), makeValueInfo('v_out', DataType.FLOAT)],
  );
  g.parts.node.push(makeNode('Loop', ['trip_count', 'keep_going', from], [out], 'endless', { body: { graph: body } }));
  g.output(out);
  return g;
}

/** A `Range` from 0 to `limit` (float32): `limit` × 4 bytes allocated by ONNX Runtime at run time. */
export function addHugeRange(g: GraphBuilder, limit: number, out = 'huge'): GraphBuilder {
  g.parts.initializer.push(makeTensor('range_start', DataType.FLOAT, [], [0]), makeTensor('range_limit', DataType.FLOAT, [], [limit]), makeTensor('range_delta', DataType.FLOAT, [], [1]));
  g.node('Range', 'range', ['range_start', 'range_limit', 'range_delta'], [out]);
  g.output(out, ['n']);
  return g;
}

export function write(file: string, g: GraphBuilder, opset = 17): string {
  return writeModel(file, modelProto(g, { opset, irVersion: 8, producer: 'modelfuse-hostile-tests' }));
}
