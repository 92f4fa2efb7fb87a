/**
 * `lora.merge`: the CLI's whole LoRA merge, run inside the worker, where ONNX
 * Runtime lives. Each single-term tensor is merged by one ORT graph (decode,
 * s·B·A, sum and rounding once, multi-threaded MLAS; see
 * ../ort/loraMergeGraph.ts); DoRA and several adapters on one tensor use ORT's
 * MatMul for the products and the engine's float64 path for the rest. No
 * weight crosses the IPC channel: the worker reads the files and writes the
 * output itself (atomically), and sends back the report.
 *
 * The plan is rebuilt here from the same files and options the CLI used for
 * its own plan (nothing but paths and numbers is taken from the host).
 */
import { assertPlanUsable, buildPlan, type PlanOptions } from '../../engine/lora/plan';
import { mergeLora, type MergeReport } from '../../engine/lora/merge';
import { FusedMergeBackend, JsMatmulBackend, type MatmulBackend } from '../../engine/lora/matmul';
import type { AdapterSpec } from '../../engine/lora/adapterFormats';
import { ModelFuseError } from '../../engine/errors';
import { matmulF32 } from '../ort/matmul';
import { ortFusedMerge } from '../ort/loraMergeGraph';
import { registerHandler } from '../registry';
import { requirePath } from './engineHandlers';

export interface LoraMergeInWorkerParams {
  base: string;
  adapters: AdapterSpec[];
  output: string;
  plan?: PlanOptions;
  allowUnmatched?: boolean;
  force?: boolean;
  /** 'ort' (default): ONNX Runtime; 'js': the JavaScript kernels (for comparisons). */
  kernel?: 'ort' | 'js';
}

declare module '../../protocol/workerProtocol' {
  interface WorkerMethods {
    'lora.merge': { params: LoraMergeInWorkerParams; result: MergeReport };
  }
}

/** The backend for merges inside this process: ORT's fused merge graph, ORT MatMul for the other products. */
export function ortMergeBackend(): MatmulBackend {
  return new FusedMergeBackend(matmulF32, ortFusedMerge);
}

registerHandler('lora.merge', async (params, ctx) => {
  const base = requirePath(params?.base, 'lora.merge');
  const output = requirePath(params?.output, 'lora.merge');
  if (!Array.isArray(params?.adapters) || params.adapters.length === 0) throw new ModelFuseError('lora.merge: no adapter given');
  const adapters = params.adapters.map((a) => ({ path: requirePath(a?.path, 'lora.merge'), weight: Number(a?.weight ?? 1) }));
  ctx.progress('matching adapter modules to base tensors');
  const plan = buildPlan(base, adapters, params.plan ?? {});
  try {
    assertPlanUsable(plan, params.allowUnmatched === true);
    ctx.throwIfCancelled();
    return await mergeLora(plan, output, {
      force: params.force === true,
      cancel: ctx.token,
      backend: params.kernel === 'js' ? new JsMatmulBackend() : ortMergeBackend(),
      onProgress: (done, total, tensor) => ctx.progress(`merged ${tensor} (${done}/${total})`, done, total),
    });
  } finally {
    plan.close();
  }
});
