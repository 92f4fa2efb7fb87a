/**
 * linear-bn: a BatchNormalization (BatchNorm1d) after a Linear layer (Gemm, or
 * MatMul by a constant weight with an optional bias Add) folds into the
 * layer's weight columns and bias. Only for 2-D activations: BN normalizes
 * axis 1, which is the feature axis of a Linear's output only when that
 * output is [batch, features].
 */
import { attrFloat, attrInt } from '../../graph/graphIndex';
import {
  firstProblem, intermediateProblem, isOp, linearAt, nodeLabel, parameterProblem, sharedWith,
  type LinearLayer, type Node, type PatternDetector, type PatternMatch, type ScanContext,
} from '../scanContext';
import { batchNormDetails, batchNormFoldProblem } from './batchNorm';
import { sharedWeightWarning } from '../warnings';

/** The Linear layer whose output is `value`, if any. */
export function linearProducing(ctx: ScanContext, value: string): LinearLayer | undefined {
  const p = ctx.index.producer.get(value);
  if (!p || !ctx.isAddressable(p)) return undefined;
  const start = isOp(p, 'Add') ? (p.input ?? []).map((i) => ctx.index.producer.get(i)).find((n) => isOp(n, 'MatMul')) : p;
  if (!start || !ctx.isAddressable(start)) return undefined;
  const lin = linearAt(ctx, start);
  return lin && lin.output === value ? lin : undefined;
}

/** Why the layer's own parameters cannot be folded into. */
export function linearParameterProblem(ctx: ScanContext, lin: LinearLayer): string | null {
  return firstProblem(
    parameterProblem(ctx, lin.weight, `${lin.kind} weight`),
    lin.bias ? parameterProblem(ctx, lin.bias, `${lin.kind} bias`) : null,
    lin.nodes.length === 2 ? intermediateProblem(ctx, lin.nodes[0], lin.nodes[0].output?.[0] ?? '', lin.nodes[1]) : null,
  );
}

export function linearDetails(lin: LinearLayer): Record<string, string | number | boolean | null> {
  const node = lin.nodes[0];
  if (lin.kind === 'Gemm') {
    return { kind: 'Gemm', transA: attrInt(node, 'transA', 0), transB: attrInt(node, 'transB', 0), alpha: attrFloat(node, 'alpha', 1), beta: attrFloat(node, 'beta', 1), hasBias: !!lin.bias };
  }
  return { kind: 'MatMul', hasBias: !!lin.bias };
}

/** A MatMul-based layer acts on [batch, features] only when its output is 2-D. */
export function twoDimensionalProblem(ctx: ScanContext, lin: LinearLayer, what: string): string | null {
  if (lin.kind === 'Gemm') return null;
  const r = ctx.ranks.rankOf(lin.output);
  if (r === undefined) return `cannot tell whether the output of ${nodeLabel(lin.nodes[0])} is 2-D (no shape information); ${what}`;
  if (r !== 2) return `the output of ${nodeLabel(lin.nodes[0])} is ${r}-D; ${what}`;
  return null;
}

export const linearBnDetector: PatternDetector = {
  name: 'linear-bn',
  patterns: ['linear-bn'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const bn of ctx.index.graph.node ?? []) {
      if (!isOp(bn, 'BatchNormalization') || !ctx.isAddressable(bn)) continue;
      const x = bn.input?.[0] ?? '';
      const lin = linearProducing(ctx, x);
      if (!lin) continue;
      const last: Node = lin.nodes[lin.nodes.length - 1];
      const shared = sharedWith(ctx, lin.weight, lin.nodes[0]);
      out.push({
        pattern: 'linear-bn',
        nodes: [...lin.nodes, bn],
        folds: true,
        blocked: firstProblem(
          intermediateProblem(ctx, last, x, bn),
          linearParameterProblem(ctx, lin),
          twoDimensionalProblem(ctx, lin, 'BatchNormalization normalizes axis 1, which is the feature axis only for [batch, features]'),
          batchNormFoldProblem(ctx, bn, lin.outFeatures),
        ),
        warnings: shared.length ? [sharedWeightWarning(lin.weight, shared)] : [],
        details: { ...linearDetails(lin), ...batchNormDetails(bn), sharedWeight: shared.length ? lin.weight : null },
      });
    }
    return out;
  },
};
