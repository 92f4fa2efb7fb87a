/**
 * The fusible sequences of each fusion fixture, written out by hand (node
 * names from the exported graphs, modules from case.json). They let the fold
 * tests run independently of `scan`; scan's own tests check that it finds
 * these same groups.
 */
import type { Candidate, PatternName } from '../../../extension/engine/fusion/candidate';
import { candidate } from './helpers/build';

type Row = [PatternName, string[], string[]];

const ROWS: Record<string, Row[]> = {
  zoo_conv_bn_relu: [
    ['conv-bn-relu', ['/conv1/Conv', '/bn1/BatchNormalization', '/relu1/Relu'], ['conv1', 'bn1', 'relu1']],
    ['conv-bn', ['/conv2/Conv', '/bn2/BatchNormalization'], ['conv2', 'bn2']],
    ['conv-relu', ['/conv3/Conv', '/relu3/Relu'], ['conv3', 'relu3']],
  ],
  // The dynamo exporter already folded both BatchNorms into conv1/conv2: only groupings remain.
  zoo_conv_bn_relu_dynamo: [
    ['conv-relu', ['node_Conv_25', 'node_relu'], ['conv1', 'relu1']],
    ['conv-relu', ['node_conv2d_2', 'node_relu_1'], ['conv3', 'relu3']],
  ],
  zoo_grouped: [
    ['conv-bn-relu', ['/dw/Conv', '/dw_bn/BatchNormalization', '/dw_relu/Relu'], ['dw', 'dw_bn', 'dw_relu']],
    ['conv-bn', ['/gc/Conv', '/gc_bn/BatchNormalization'], ['gc', 'gc_bn']],
    ['conv-bn', ['/pw/Conv', '/pw_bn/BatchNormalization'], ['pw', 'pw_bn']],
  ],
  zoo_linear: [
    ['bn-relu', ['/bn0/BatchNormalization', '/relu0/Relu'], ['bn0', 'relu0']],
    ['linear-bn', ['/fc1/Gemm', '/bn1/BatchNormalization'], ['fc1', 'bn1']],
    ['linear-relu', ['/fc2/Gemm', '/relu2/Relu'], ['fc2', 'relu2']],
    ['linear-bn', ['/fc3/MatMul', '/bn3/BatchNormalization'], ['fc3', 'bn3']],
  ],
  zoo_resstyle: [
    ['conv-bn-relu', ['/conv1/Conv', '/bn1/BatchNormalization', '/relu/Relu'], ['conv1', 'bn1', 'relu']],
    ['conv-bn-relu', ['/conv1_1/Conv', '/bn1_1/BatchNormalization', '/relu_1/Relu'], ['blocks.0.conv1', 'blocks.0.bn1', 'relu']],
    ['conv-bn', ['/conv2/Conv', '/bn2/BatchNormalization'], ['blocks.0.conv2', 'blocks.0.bn2']],
    ['conv-bn-relu', ['/conv1_2/Conv', '/bn1_2/BatchNormalization', '/relu_3/Relu'], ['blocks.1.conv1', 'blocks.1.bn1', 'relu']],
    ['conv-bn', ['/conv2_1/Conv', '/bn2_1/BatchNormalization'], ['blocks.1.conv2', 'blocks.1.bn2']],
    ['conv-bn-relu', ['/head/head.0/Conv', '/head/head.1/BatchNormalization', '/head/head.2/Relu'], ['head.0', 'head.1', 'head.2']],
  ],
};

export function handCandidates(fixtureName: string): Candidate[] {
  const rows = ROWS[fixtureName];
  if (!rows) throw new Error(`no hand-written candidates for ${fixtureName}`);
  return rows.map(([pattern, nodes, modules]) => candidate(pattern, nodes, modules));
}
