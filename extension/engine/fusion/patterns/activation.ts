/**
 * Grouping-only sequences: conv-relu, linear-relu, bn-relu. Nothing folds
 * (portable ONNX keeps the Relu as its own node; runtimes fuse it when they
 * run), but PyTorch's fuse_modules knows these groups, so scan reports them
 * with the reasons PyTorch would get them wrong: an intermediate value read
 * elsewhere, a BatchNorm in training mode.
 */
import {
  firstProblem, intermediateProblem, isOp, type Node, type PatternDetector, type PatternMatch, type ScanContext,
} from '../scanContext';
import { batchNormModeProblem } from './batchNorm';
import { linearDetails, linearProducing } from './linearBn';

export const activationDetector: PatternDetector = {
  name: 'activation',
  patterns: ['conv-relu', 'linear-relu', 'bn-relu'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const relu of ctx.index.graph.node ?? []) {
      if (!isOp(relu, 'Relu') || !ctx.isAddressable(relu)) continue;
      const x = relu.input?.[0] ?? '';
      const p = ctx.index.producer.get(x);
      if (!p || !ctx.isAddressable(p) || p.output?.[0] !== x) continue;
      if (isOp(p, 'Conv')) {
        out.push(group(ctx, 'conv-relu', [p], relu, null, { kind: 'Conv' }));
      } else if (isOp(p, 'BatchNormalization')) {
        out.push(group(ctx, 'bn-relu', [p], relu, batchNormModeProblem(ctx, p), {}));
      } else {
        const lin = linearProducing(ctx, x);
        if (lin) {
          const inner = lin.nodes.length === 2 ? intermediateProblem(ctx, lin.nodes[0], lin.nodes[0].output?.[0] ?? '', lin.nodes[1]) : null;
          out.push(group(ctx, 'linear-relu', lin.nodes, relu, inner, linearDetails(lin)));
        }
      }
    }
    return out;
  },
};

function group(ctx: ScanContext, pattern: PatternMatch['pattern'], head: Node[], relu: Node, problem: string | null, details: PatternMatch['details']): PatternMatch {
  const last = head[head.length - 1];
  return {
    pattern,
    nodes: [...head, relu],
    folds: false,
    blocked: firstProblem(problem, intermediateProblem(ctx, last, relu.input?.[0] ?? '', relu)),
    details,
  };
}
