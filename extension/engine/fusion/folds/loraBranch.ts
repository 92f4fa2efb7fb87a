/**
 * lora-branch fold: W' = W + scale · (product of the low-rank weights, in W's
 * layout) for every branch on one base layer, then the base layer alone
 * produces what the last Add produced. Float64 arithmetic, one rounding to the
 * base dtype. The branch is matched again here (engine/lora/graphBranch), so
 * the fold works on the graph as it is now and refuses if it changed.
 */
import { refuse, type Fold } from './foldContext';
import { loraContext, matchLoraAt, branchNodes, keptNodes, matchNodes } from '../../lora/graphBranch/match';
import { biasValueOf, computeFoldedWeights } from '../../lora/graphBranch/foldMath';

export const loraBranchFold: Fold = {
  patterns: ['lora-branch'],
  apply(ctx, candidate) {
    const baseNode = ctx.node(candidate.nodes[0]);
    const lctx = loraContext(ctx.model, ctx.index);
    const m = matchLoraAt(lctx, baseNode);
    if (!m) refuse(`no LoRA branch is added to '${candidate.nodes[0]}' any more`);
    if (m.problems.length) refuse(m.problems.slice(0, 3).join('; '));
    const now = matchNodes(m).map((n) => ctx.addressOf(n));
    if (now.join('\n') !== candidate.nodes.join('\n')) refuse(`the LoRA branch on '${candidate.nodes[0]}' changed since the scan (scan again)`);

    const folded = computeFoldedWeights(lctx, m);
    const merged = folded.weight.data;
    for (let i = 0; i < merged.length; i++) {
      if (!Number.isFinite(merged[i])) refuse(`the merged weight of '${candidate.nodes[0]}' has a NaN or infinite value`);
    }
    const biasValue = biasValueOf(m);
    const biasHolder = m.biasAdd ?? (m.base === 'Gemm' || m.base === 'Conv' ? m.baseNode : null);
    if (folded.bias && !biasHolder) refuse(`the fold changes the bias of '${candidate.nodes[0]}' (DoRA rescaling or lora_bias), which has none to change`);

    // Every check passed: edit.
    const weightSlot = m.base === 'Gather' ? 0 : 1;
    ctx.writeTensor(m.baseNode, weightSlot, 'weight', folded.weightDtype, folded.weight.dims, folded.weight.data, `${m.weight}_lora_merged`);
    if (folded.bias && biasHolder) {
      const slot = biasValue ? (biasHolder.input ?? []).indexOf(biasValue) : 2;
      ctx.writeTensor(biasHolder, slot, 'bias', folded.bias.dtype, [folded.bias.values.length], folded.bias.values, `${m.weight}_lora_bias`);
    }
    for (const n of branchNodes(m)) ctx.removeNode(n);
    ctx.takeOverOutput(keptNodes(m).at(-1)!, 0, m.output);
    return ctx.takeJournal();
  },
};
