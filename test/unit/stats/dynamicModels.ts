/**
 * Small models with dynamic input sizes, built the way exporters write them,
 * for the tests of input-size choice and weak-check detection:
 *  - `fpn`: `[?, 3, ?, ?]` → Conv 3×3 /2 → BN → Relu → Conv 3×3 /2 → Resize ×2 →
 *    Add with the first feature map → Conv 1×1 → Sigmoid (the shape of a
 *    PaddleOCR detector: sizes must be multiples of the total stride 4);
 *  - `lenet`: `[?, 1, ?, ?]` → Conv 5×5 → MaxPool 2 → Flatten → Gemm with a fixed
 *    input width (only 28×28 inputs fit);
 *  - `tokens`: `ids` and `mask`, both `[batch, seq]` int64.
 * Weights as initializers or as Constant nodes (paddle2onnx style).
 */
import * as path from 'node:path';
import { DataType } from '../../../extension/engine/onnx/proto';
import { GraphBuilder, modelProto, type ConstantStorage } from '../exporters/exporterGraph';
import { makeTensor, writeModel } from '../helpers/onnxBuilder';

export function writeFpnModel(dir: string, name = 'fpn.onnx', storage: ConstantStorage = 'initializer'): string {
  const g = new GraphBuilder();
  g.input('x', ['batch', 3, 'height', 'width']).output('y', ['batch', 1, 'oh', 'ow']);
  g.node('Conv', 'conv1', ['x', g.constant('conv1.weight', [8, 3, 3, 3], { storage }), g.constant('conv1.bias', [8], { storage })], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  g.node('BatchNormalization', 'bn1', ['c1', ...g.batchNormParams(['bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], 8, storage)], ['b1']);
  g.node('Relu', 'relu1', ['b1'], ['r1']);
  g.node('Conv', 'conv2', ['r1', g.constant('conv2.weight', [8, 8, 3, 3], { storage })], ['c2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  g.parts.initializer.push(makeTensor('scales', DataType.FLOAT, [4], [1, 1, 2, 2]));
  g.node('Resize', 'up', ['c2', '', 'scales'], ['u2'], { mode: 'nearest' });
  g.node('Add', 'merge', ['u2', 'r1'], ['m']);
  g.node('Conv', 'head', ['m', g.constant('head.weight', [1, 8, 1, 1], { storage })], ['h'], { kernel_shape: [1, 1] });
  g.node('Sigmoid', 'prob', ['h'], ['y']);
  return writeModel(path.join(dir, name), modelProto(g, { opset: 13, irVersion: 7, producer: storage === 'initializer' ? 'test' : 'paddle2onnx' }));
}

export function writeLenetModel(dir: string, name = 'lenet.onnx'): string {
  const g = new GraphBuilder();
  g.input('img', ['n', 1, 'h', 'w']).output('logits', ['n', 10]);
  g.node('Conv', 'conv', ['img', g.constant('conv.weight', [4, 1, 5, 5])], ['c'], { kernel_shape: [5, 5] });
  g.node('MaxPool', 'pool', ['c'], ['p'], { kernel_shape: [2, 2], strides: [2, 2] });
  g.node('Flatten', 'flat', ['p'], ['f'], { axis: 1 });
  g.node('Gemm', 'fc', ['f', g.constant('fc.weight', [10, 4 * 12 * 12]), g.constant('fc.bias', [10])], ['logits'], { transB: 1 });
  return writeModel(path.join(dir, name), modelProto(g, { opset: 13, irVersion: 7, producer: 'test' }));
}

export function writeTokenModel(dir: string, name = 'tokens.onnx'): string {
  const g = new GraphBuilder();
  g.input('ids', ['batch', 'seq'], DataType.INT64).input('mask', ['batch', 'seq'], DataType.INT64).output('y', ['batch', 'seq', 4]);
  g.node('Gather', 'embed', [g.constant('embed.weight', [10, 4]), 'ids'], ['e'], { axis: 0 });
  g.node('Cast', 'cast', ['mask'], ['mf'], { to: DataType.FLOAT });
  g.node('Unsqueeze', 'unsq', ['mf', g.constant('axes', [1], { values: [2], dtype: DataType.INT64 })], ['m3']);
  g.node('Mul', 'masked', ['e', 'm3'], ['y']);
  return writeModel(path.join(dir, name), modelProto(g, { opset: 13, irVersion: 7, producer: 'test' }));
}

/** A model that ignores its input: y = 0 · x (every output zero, whatever the fold does to the rest). */
export function writeZeroModel(dir: string, name = 'zero.onnx'): string {
  const g = new GraphBuilder();
  g.input('x', [1, 3, 8, 8]).output('y', [1, 3, 8, 8]);
  g.node('Mul', 'zero', ['x', g.constant('zero', [1], { values: [0] })], ['y']);
  return writeModel(path.join(dir, name), modelProto(g, { opset: 13, irVersion: 7, producer: 'test' }));
}

/** NumPy's .npy v1.0 bytes of a C-ordered array (what np.save writes). */
export function npyBytes(descr: string, shape: number[], data: Uint8Array, fortran = false): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data)]);
}
