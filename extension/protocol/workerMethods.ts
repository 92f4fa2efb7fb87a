/**
 * The worker API: every method the ONNX Runtime worker serves, name →
 * { params; result }, in this one table. Names are `domain/verb`. Host and
 * worker both type against it: `WorkerClient.request(method, params)` infers
 * the params and the result from the name, and `registerHandler(method, fn)`
 * in the worker accepts only a method listed here, with exactly these types.
 *
 * The parameter and result types live beside their subject (workerProtocol.ts
 * for verify/optimize/latency/matmul/ping, graphMethods.ts, diffMethods.ts,
 * extensionMethods.ts, inputPlanMethods.ts); this file only names them. Types
 * only: nothing here pulls in the engine, Node or ONNX Runtime.
 *
 * Results must be structured-cloneable (plain objects, arrays, typed arrays;
 * no class instances or functions): they cross Node's IPC channel.
 */
import type {
  LatencyParams,
  LatencyResult,
  MatmulParams,
  MatmulResult,
  OptimizeParams,
  OptimizeResult,
  PingResult,
  VerifyParams,
  VerifyReport,
} from './workerProtocol';
import type { DriftReport, GraphCatalog, GraphDiffParams, GraphDiffResult, GraphDrawing, GraphLayoutParams, GraphNodeParams, GraphOpenParams, LocateDriftParams, NodeDetails } from './graphMethods';
import type { InspectModuleParams, ModuleInspection, ParamDiffParams, ParamDiffSummary } from './diffMethods';
import type {
  FuseFileParams,
  FuseFileResult,
  LoraMappingTableResult,
  LoraMergeParams,
  LoraMergeResult,
  LoraPlanParams,
  LoraPlanResult,
  OverviewParams,
  ProbeBasesParams,
  ProbeBasesResult,
} from './extensionMethods';
import type { ModelOverview } from './modelOverview';
import type { InputPlanParams, InputShapePlan } from './inputPlanMethods';

export interface WorkerMethods {
  // ---------------------------------------------------------------- the worker itself
  /** The worker's pid, methods and ORT state (health checks, tests). */
  'worker/ping': { params: Record<string, never>; result: PingResult };

  // ---------------------------------------------------------------- one model (editor, side panel, inspector)
  /** What the custom editor shows for a .onnx or .safetensors file (ONNX: + fusible sequences and module tree). */
  'model/overview': { params: OverviewParams; result: ModelOverview };
  /** Statistics and histograms of one module's parameters (the inspector view). */
  'model/inspectModule': { params: InspectModuleParams; result: ModuleInspection };
  /** The input sizes a verification of the model would use, and why (no ONNX Runtime needed). */
  'inputs/plan': { params: InputPlanParams; result: InputShapePlan };

  // ---------------------------------------------------------------- ONNX Runtime
  /** Runs A (reference) and B (under test) on the same inputs and compares every output (CLI `verify`). */
  'verify/run': { params: VerifyParams; result: VerifyReport };
  /** ONNX Runtime's offline optimization to a file (CLI `optimize`). */
  'optimize/run': { params: OptimizeParams; result: OptimizeResult };
  /** Median of N runs of one model at one ORT optimization level. */
  'latency/measure': { params: LatencyParams; result: LatencyResult };
  /** C = A·B in float32 by ONNX Runtime's MatMul, for callers outside the worker. */
  'matmul/run': { params: MatmulParams; result: MatmulResult };

  // ---------------------------------------------------------------- fusion
  /** Folds the chosen candidates of a model into a new file (written atomically). */
  'fusion/fuse': { params: FuseFileParams; result: FuseFileResult };

  // ---------------------------------------------------------------- LoRA: the one pipeline, for the CLI and the extension alike
  /** What a merge would change: adapter module → base tensor, with scale and evidence. */
  'lora/plan': { params: LoraPlanParams; result: LoraPlanResult };
  /** Builds the same plan (or reopens a confirmed one) and merges it into a new file. */
  'lora/merge': { params: LoraMergeParams; result: LoraMergeResult };
  /** The plan as an editable table (the mapping editor). */
  'lora/mappingTable': { params: LoraPlanParams; result: LoraMappingTableResult };
  /** Which files can be a merge's base, which are adapter files, why not the others. */
  'lora/probeBases': { params: ProbeBasesParams; result: ProbeBasesResult };

  // ---------------------------------------------------------------- the Graph tab and "Locate drift"
  'graph/open': { params: GraphOpenParams; result: GraphCatalog };
  'graph/layout': { params: GraphLayoutParams; result: GraphDrawing };
  'graph/node': { params: GraphNodeParams; result: NodeDetails };
  'graph/diff': { params: GraphDiffParams; result: GraphDiffResult };
  'graph/drift': { params: LocateDriftParams; result: DriftReport };

  // ---------------------------------------------------------------- the parameter-diff panel
  'diff/params': { params: ParamDiffParams; result: ParamDiffSummary };

  // ---------------------------------------------------------------- tests only (registered with MODELFUSE_WORKER_DEBUG=1)
  /** Aborts the process (crash tests). */
  'debug/crash': { params: { how?: 'abort' | 'exit' }; result: never };
  /** Sleeps in small steps, honouring cancel (cancel tests). */
  'debug/sleep': { params: { ms: number; steps?: number }; result: { slept: number } };
}

export type WorkerMethod = keyof WorkerMethods;
export type ParamsOf<M extends WorkerMethod> = WorkerMethods[M]['params'];
export type ResultOf<M extends WorkerMethod> = WorkerMethods[M]['result'];
