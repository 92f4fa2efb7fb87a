/**
 * LoRA for the VS Code extension, in the worker:
 *   ext.loraPlan   { base, adapters }                         → LoraPlanResult (what would change, with evidence)
 *   ext.loraMerge  { base, adapters, output, allowUnmatched } → LoraMergeResult (written atomically)
 * The host shows the plan for confirmation and then asks for the merge; the
 * merge rebuilds the plan from the files (nothing is trusted from the host
 * but paths and weights). The merge arithmetic runs in ONNX Runtime, as the
 * CLI's `lora` does (loraMergeInWorker.ts).
 */
import { ModelFuseError } from '../../engine/errors';
import { assertPlanUsable, buildPlan, type LoraPlan } from '../../engine/lora/plan';
import { mergeLora } from '../../engine/lora/merge';
import { ortMergeBackend } from './loraMergeInWorker';
import type { LoraAdapterArg, LoraPlanResult } from '../../protocol/extensionMethods';
import '../../protocol/extensionMethods';
import { registerHandler } from '../registry';
import { requirePath } from './engineHandlers';

function adapterSpecs(adapters: unknown, method: string): LoraAdapterArg[] {
  if (!Array.isArray(adapters) || adapters.length === 0) throw new ModelFuseError(`${method}: choose at least one adapter`);
  return adapters.map((a: LoraAdapterArg) => {
    const weight = Number(a?.weight);
    if (!Number.isFinite(weight)) throw new ModelFuseError(`${a?.path}: adapter weight must be a number`);
    return { path: requirePath(a?.path, method), weight };
  });
}

export function summarizePlan(plan: LoraPlan): LoraPlanResult {
  return {
    base: plan.basePath,
    baseKind: plan.baseKind,
    adapters: plan.adapters.map((a) => ({ path: a.spec, format: a.format, weight: a.weight, modules: a.modules.length })),
    pairs: plan.pairs.map((p) => ({
      adapter: p.adapter, module: p.module, target: p.target, targetShape: p.targetShape, targetDtype: p.targetDtype, kind: p.kind,
      rank: p.rank, alpha: p.alpha, scale: p.scale, evidence: p.evidence, sharedWith: p.sharedWith ?? [],
    })),
    unmatched: plan.unmatched.map((u) => ({ adapter: u.adapter, module: u.module, reason: u.reason, candidates: u.candidates ?? [] })),
    errors: plan.errors,
  };
}

registerHandler('ext.loraPlan', async (params, ctx) => {
  const base = requirePath(params?.base, 'ext.loraPlan');
  const specs = adapterSpecs(params?.adapters, 'ext.loraPlan');
  ctx.progress('matching adapter modules to base tensors');
  const plan = buildPlan(base, specs);
  try {
    return summarizePlan(plan);
  } finally {
    plan.close();
  }
});

registerHandler('ext.loraMerge', async (params, ctx) => {
  const base = requirePath(params?.base, 'ext.loraMerge');
  const output = requirePath(params?.output, 'ext.loraMerge');
  const specs = adapterSpecs(params?.adapters, 'ext.loraMerge');
  ctx.progress('matching adapter modules to base tensors');
  const plan = buildPlan(base, specs);
  try {
    assertPlanUsable(plan, params?.allowUnmatched === true);
    ctx.throwIfCancelled();
    const report = await mergeLora(plan, output, {
      cancel: ctx.token,
      // The CLI's backend: one ONNX Runtime graph per single-term tensor, ORT MatMul for the rest.
      backend: ortMergeBackend(),
      onProgress: (done, total, tensor) => ctx.progress(`merged ${tensor}`, done, total),
    });
    return { base, output: report.output, files: report.files, merged: report.merged, tensorsWritten: report.tensorsWritten };
  } finally {
    plan.close();
  }
});
