/**
 * Hostile ONNX models, built in the tests (no stored binaries): graphs that
 * never end or allocate without bound in ONNX Runtime, folds whose results
 * overflow, ambiguous names, unsorted graphs, huge node counts.
 */
import Long from 'long';
import { AttributeType, DataType, onnx } from '../../../extension/engine/onnx/proto';
import { GraphBuilder, modelProto, tensorProto, valueInfo, writeModel } from '../exporters/build';

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
  g.parts.initializer.push(onnx.TensorProto.create({ name: 'trip_count', data_type: DataType.INT64, dims: [], int64_data: [Long.fromString(INT64_MAX)] }));
  g.parts.initializer.push(onnx.TensorProto.create({ name: 'keep_going', data_type: DataType.BOOL, dims: [], int32_data: [1] }));
  const body = onnx.GraphProto.create({
    name: 'body',
    input: [valueInfo('i', DataType.INT64, []), valueInfo('cond_in', DataType.BOOL, []), valueInfo('v_in', DataType.FLOAT)],
    output: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('v_out', DataType.FLOAT)],
    node: [
      onnx.NodeProto.create({ name: 'keep', op_type: 'Identity', input: ['cond_in'], output: ['cond_out'] }),
      onnx.NodeProto.create({ name: 'same', op_type: 'Identity', input: ['v_in'], output: ['v_out'] }),
    ],
  });
  g.parts.node.push(onnx.NodeProto.create({
    name: 'endless', op_type: 'Loop', input: ['trip_count', 'keep_going', from], output: [out],
    attribute: [onnx.AttributeProto.create({ name: 'body', type: AttributeType.GRAPH, g: body })],
  }));
  g.output(out);
  return g;
}

/** A `Range` from 0 to `limit` (float32): `limit` × 4 bytes allocated by ONNX Runtime at run time. */
export function addHugeRange(g: GraphBuilder, limit: number, out = 'huge'): GraphBuilder {
  g.parts.initializer.push(tensorProto('range_start', [], [0]), tensorProto('range_limit', [], [limit]), tensorProto('range_delta', [], [1]));
  g.node('Range', 'range', ['range_start', 'range_limit', 'range_delta'], [out]);
  g.output(out, ['n']);
  return g;
}

export function write(file: string, g: GraphBuilder, opset = 17): string {
  return writeModel(file, modelProto(g, { opset, irVersion: 8, producer: 'modelfuse-hostile-tests' }));
}
