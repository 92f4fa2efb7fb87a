/**
 * lora-branch: the LoRA branches an unmerged PEFT export leaves in the graph,
 * `base(x) + scale · B(A(x))` per adapted layer (several adapters: a chain of
 * Adds; DoRA: the base output rescaled as well). Folding them into the base
 * weight is exact, so they fold by default. The matching itself lives in
 * engine/lora/graphBranch (the fold uses the same code).
 */
import type { ModuleTree } from '../../graph/moduleTree';
import type { GraphIndex } from '../../graph/graphIndex';
import { peftModuleName } from '../../graph/peftModulePath';
import { loraContext, matchLoraAt, matchNodes, type LoraMatch } from '../../lora/graphBranch/match';
import type { Details, Node, PatternDetector, PatternMatch, ScanContext } from '../scanContext';
import { nodeLabel } from '../scanContext';

export const loraBranchDetector: PatternDetector = {
  name: 'lora-branch',
  patterns: ['lora-branch'],
  detect(ctx: ScanContext): PatternMatch[] {
    const lctx = loraContext(ctx.model, ctx.index);
    const found: PatternMatch[] = [];
    for (const node of ctx.model.graph.node ?? []) {
      if (!['MatMul', 'Gemm', 'Conv', 'Gather'].includes(node.op_type ?? '')) continue;
      const m = matchLoraAt(lctx, node);
      if (!m) continue;
      const problems = [...m.problems];
      if (!ctx.isAddressable(node)) problems.unshift(`the base layer ${nodeLabel(node)} has no unique name, so the fold cannot find it`);
      const details = loraDetails(ctx, m);
      found.push({
        pattern: 'lora-branch',
        nodes: matchNodes(m) as Node[],
        // One module: the adapted layer the whole branch belongs to (its A/B/scale nodes are PEFT's wrappers of it).
        modules: [details.module ?? null],
        folds: true,
        blocked: problems.length ? problems.slice(0, 3).join('; ') : null,
        details,
      });
    }
    return found;
  },
};

function loraDetails(ctx: ScanContext, m: LoraMatch): Details {
  const scales = m.branches.map((b) => b.scale);
  const same = <T>(xs: T[]): boolean => xs.every((v) => v === xs[0]);
  return {
    rank: m.rank.length === 1 || (m.rank.length > 0 && same(m.rank)) ? m.rank[0] : m.rank.length ? m.rank.join('+') : null,
    scale: same(scales) ? round(scales[0]) : scales.map(round).join('+'),
    adapters: m.branches.length,
    base: m.base,
    dora: m.baseTerms.length > 0 || m.branches.some((b) => b.columnScales.length > 0),
    module: loraModulePath(ctx.tree, ctx.index, m),
  };
}

function round(x: number): number {
  return Number(x.toPrecision(7));
}

/**
 * The adapted module's path, as the user knows it (`layers.0.attn.q_proj`).
 * Parameter names are state-dict keys and carry the full path even when node
 * names lost it (`/model/q_proj_1/...`); PEFT wraps them as
 * `base_model.model.<path>.base_layer.bias` and `<path>.lora_A.<adapter>.weight`.
 * The LoRA factors are the best evidence (never tied to another layer), then
 * the bias, then the base weight; the module tree is the fallback.
 */
export function loraModulePath(tree: ModuleTree, index: GraphIndex, m: LoraMatch): string | null {
  const evidence = [
    ...m.branches.flatMap((b) => b.factors.map((f) => f.weight)),
    ...(biasName(m) ? [biasName(m)!] : []),
    m.weight,
  ];
  for (const name of evidence) {
    const path = modulePathFromParameter(sourceParameter(index, name));
    if (path) return path;
  }
  const raw = tree.moduleOf(m.baseNode.name ?? '');
  return raw === null ? null : peftModuleName(raw);
}

/**
 * The parameter behind a weight value: exporters put Identity (TorchScript's
 * de-duplicated parameters), Transpose (dynamo's Linear) or Cast between.
 */
function sourceParameter(index: GraphIndex, value: string): string {
  let v = value;
  for (let hops = 0; hops < 8; hops++) {
    const p = index.producer.get(v);
    if (!p || !['Identity', 'Transpose', 'Cast'].includes(p.op_type ?? '') || !p.input?.[0]) break;
    v = p.input[0];
  }
  return v;
}

function biasName(m: LoraMatch): string | null {
  if (m.biasAdd) return (m.biasAdd.input ?? []).find((v) => v !== m.baseNode.output?.[0]) ?? null;
  return m.baseNode.input?.[2] || null;
}

const PEFT_PARAMETER = /^(.+?)\.(?:base_layer\.(?:weight|bias)|lora_(?:A|B)\.[^.]+\.weight|lora_embedding_(?:A|B)\.[^.]+|lora_magnitude_vector\.[^.]+(?:\.weight)?)$/;

/** `base_model.model.layers.0.attn.q_proj.lora_A.default.weight` → `layers.0.attn.q_proj`; generated names (`onnx::MatMul_12`) → null. */
export function modulePathFromParameter(name: string): string | null {
  if (!name || name.includes('::') || name.startsWith('/')) return null;
  const peft = PEFT_PARAMETER.exec(name);
  if (peft) return peftModuleName(peft[1]);
  const plain = /^(.+)\.(?:weight|bias)$/.exec(name);
  return plain ? peftModuleName(plain[1]) : null;
}
