/**
 * The LoRA pipeline in the worker, one method per step, for the CLI and the
 * extension alike (extension/protocol/extensionMethods.ts):
 *   lora/plan   { base, adapters, plan? }                                   → LoraPlanResult
 *   lora/merge  { base, adapters, plan?, output, allowUnmatched?, force?, kernel?, planned? } → MergeReport + base
 *               (with `planned`, the plan lora/plan returned: merged as confirmed, not matched again)
 *   lora/mappingTable { base, adapters, plan? } → the plan and its editable table (mapping editor)
 *   lora/probeBases { paths } → which files can be a base, which are adapters, why not the others
 * `map` (a `--map` file in the CLI's format) is the same as `plan.mapPath`.
 * The plan is built here from the files, or reopened from a plan made before
 * (its paths absolute, its files unchanged). The merge runs next to ONNX Runtime: each single-term
 * tensor is one ORT graph (decode, s·B·A, sum, rounding once; see
 * ../ort/loraMergeGraph.ts), DoRA, LyCORIS and several adapters on one tensor
 * use ORT's MatMul for the products and the engine's float64 path for the
 * rest. No weight crosses the IPC channel: the worker reads the files and
 * writes the output itself (atomically), and sends back the report.
 */
import { ModelFuseError } from '../../engine/errors';
import { assertPlanUsable, buildPlan, planValue, reopenPlan, type LoraPlan, type PlanValue } from '../../engine/lora/plan';
import { mergeLora } from '../../engine/lora/merge';
import { FusedMergeBackend, JsMatmulBackend, type MatmulBackend } from '../../engine/lora/matmulBackend';
import { mappingTable } from '../../engine/lora/mappingTable';
import { probeBase } from '../../engine/lora/baseProbe';
import { planSummary } from '../../engine/lora/planSummary';
import type { LoraAdapterArg, LoraPlanParams, LoraPlanResult, ProbeBasesResult } from '../../protocol/extensionMethods';
import { matmulF32 } from '../ort/ortMatmul';
import { ortFusedMerge } from '../ort/loraMergeGraph';
import { registerHandler } from '../registry';
import { requirePath } from './engineHandlers';

/** The backend for merges inside this process: ORT's fused merge graph, ORT MatMul for the other products. */
export function ortMergeBackend(): MatmulBackend {
  return new FusedMergeBackend(matmulF32, ortFusedMerge);
}

function adapterSpecs(adapters: unknown, method: string): LoraAdapterArg[] {
  if (!Array.isArray(adapters) || adapters.length === 0) throw new ModelFuseError(`${method}: choose at least one adapter`);
  return adapters.map((a: LoraAdapterArg) => {
    const weight = Number(a?.weight ?? 1);
    if (!Number.isFinite(weight)) throw new ModelFuseError(`${a?.path}: adapter weight must be a number`);
    return { path: requirePath(a?.path, method), weight };
  });
}

/** The plan as the extension is shown it: the engine's summary (the CLI's `lora plan --json`) and the plan itself. */
function planResult(plan: LoraPlan): LoraPlanResult {
  return { ...planSummary(plan), planned: planValue(plan) };
}

/** The plan for a request's base, adapters and options (`map` is the same as `plan.mapPath`). */
function planOf(params: LoraPlanParams | undefined, method: string): LoraPlan {
  const base = requirePath(params?.base, method);
  const specs = adapterSpecs(params?.adapters, method);
  const mapPath = params?.map === undefined ? params?.plan?.mapPath : requirePath(params.map, method);
  return buildPlan(base, specs, { ...(params?.plan ?? {}), ...(mapPath ? { mapPath } : {}) });
}

/** A plan sent by the caller: only absolute paths are taken (the worker trusts nothing relative), and every file is checked unchanged. */
function reopenSent(planned: PlanValue, method: string): LoraPlan {
  requirePath(planned?.basePath, method);
  if (!Array.isArray(planned.specs) || !Array.isArray(planned.pairs) || !Array.isArray(planned.files)) throw new ModelFuseError(`${method}: malformed plan`);
  for (const s of planned.specs) requirePath(s?.path, method);
  return reopenPlan(planned);
}

registerHandler('lora/plan', async (params, ctx) => {
  ctx.progress('matching adapter modules to base tensors');
  const plan = planOf(params, 'lora/plan');
  try {
    return planResult(plan);
  } finally {
    plan.close();
  }
});

registerHandler('lora/mappingTable', async (params, ctx) => {
  ctx.progress('matching adapter modules to base tensors');
  const plan = planOf(params, 'lora/mappingTable');
  try {
    return { plan: planResult(plan), rows: mappingTable(plan) };
  } finally {
    plan.close();
  }
});

registerHandler('lora/probeBases', async (params, ctx): Promise<ProbeBasesResult> => {
  const paths = Array.isArray(params?.paths) ? params.paths : [];
  const result: ProbeBasesResult = { bases: [], adapterFiles: [], skipped: [] };
  for (const [i, p] of paths.entries()) {
    ctx.throwIfCancelled();
    ctx.progress('reading candidate bases', i, paths.length);
    const probe = probeBase(requirePath(p, 'lora/probeBases'));
    if (probe.usable) result.bases.push(probe.base);
    else if (probe.adapter) result.adapterFiles.push(probe.path);
    else result.skipped.push({ path: probe.path, reason: probe.reason });
  }
  return result;
});

registerHandler('lora/merge', async (params, ctx) => {
  const output = requirePath(params?.output, 'lora/merge');
  ctx.progress(params?.planned ? 'opening the planned files' : 'matching adapter modules to base tensors');
  const plan = params?.planned ? reopenSent(params.planned, 'lora/merge') : planOf(params, 'lora/merge');
  const base = plan.basePath;
  try {
    assertPlanUsable(plan, params?.allowUnmatched === true);
    ctx.throwIfCancelled();
    const report = await mergeLora(plan, output, {
      // `replace`: the host overwrites only a previous result ModelFuse wrote (modelfuse.output.onRepeat).
      force: params?.force === true || params?.replace === true,
      cancel: ctx.token,
      backend: params?.kernel === 'js' ? new JsMatmulBackend() : ortMergeBackend(),
      onProgress: (done, total, tensor) => ctx.progress(`merged ${tensor} (${done}/${total})`, done, total),
    });
    return { ...report, base };
  } finally {
    plan.close();
  }
});
