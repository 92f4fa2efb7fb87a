/**
 * conv-bn, conv-bn-relu, convtranspose-bn: a BatchNormalization reading a
 * Conv / ConvTranspose (1-, 2- or 3-D) folds into the conv's weight and bias
 * exactly (per output channel: w·s, (b−mean)·s+β with s = γ/√(var+ε)),
 * whatever the conv's padding, stride, dilation or group. A Relu that is the
 * BN's only reader joins the group (conv-bn-relu; torch has no
 * ConvTranspose+BN+ReLU fuser, so that stays convtranspose-bn).
 */
import { attrInt } from '../../graph/graphIndex';
import {
  convOutChannels, convSpatialDims, firstProblem, intermediateProblem, isOp, parameterProblem, sharedWith,
  type PatternDetector, type PatternMatch, type ScanContext,
} from '../scanContext';
import { batchNormDetails, batchNormFoldProblem } from './batchNorm';
import { sharedWeightWarning } from '../warnings';

export const convBnDetector: PatternDetector = {
  name: 'conv-bn',
  patterns: ['conv-bn', 'conv-bn-relu', 'convtranspose-bn'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const bn of ctx.index.graph.node ?? []) {
      if (!isOp(bn, 'BatchNormalization') || !ctx.isAddressable(bn)) continue;
      const x = bn.input?.[0] ?? '';
      const conv = ctx.index.producer.get(x);
      if (!isOp(conv, 'Conv', 'ConvTranspose') || !ctx.isAddressable(conv) || conv.output?.[0] !== x) continue;
      const transposed = conv.op_type === 'ConvTranspose';
      const channels = convOutChannels(ctx, conv);
      const weight = conv.input?.[1] ?? '';
      const bias = conv.input?.[2] ?? '';
      const y = bn.output?.[0] ?? '';
      const relu = transposed ? undefined : ctx.index.soleConsumer(y);
      const withRelu = isOp(relu, 'Relu') && ctx.isAddressable(relu) ? relu : undefined;
      const blocked = firstProblem(
        intermediateProblem(ctx, conv, x, bn),
        parameterProblem(ctx, weight, `${conv.op_type} weight`),
        bias ? parameterProblem(ctx, bias, `${conv.op_type} bias`) : null,
        batchNormFoldProblem(ctx, bn, channels),
      );
      const shared = sharedWith(ctx, weight, conv);
      out.push({
        pattern: transposed ? 'convtranspose-bn' : withRelu ? 'conv-bn-relu' : 'conv-bn',
        nodes: withRelu ? [conv, bn, withRelu] : [conv, bn],
        folds: true,
        blocked,
        warnings: shared.length ? [sharedWeightWarning(weight, shared)] : [],
        details: {
          kind: conv.op_type ?? '',
          spatialDims: convSpatialDims(ctx, conv) ?? null,
          group: attrInt(conv, 'group', 1),
          hasBias: !!bias,
          ...batchNormDetails(bn),
          sharedWeight: shared.length ? weight : null,
        },
      });
    }
    return out;
  },
};

