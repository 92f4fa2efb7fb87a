/**
 * The worker methods the VS Code extension calls (the CLI calls the engine
 * directly). Each one loads the file in the worker process — parsing a large
 * model never runs on the extension host — and returns plain summaries:
 * weights never cross the IPC channel.
 *
 *   ext.overview  { path }  → ModelOverview   (ONNX: + fusible sequences and module tree)
 */
import * as path from 'node:path';
import { fileError, ModelFuseError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { SafetensorsFile } from '../../engine/safetensors/safetensors';
import { analyzeModel } from '../../engine/fusion/scan';
import { toCandidateJson } from '../../engine/fusion/candidate';
import type { ModelOverview } from '../../protocol/modelOverview';
import { registerHandler } from '../registry';
import { onnxOverview, safetensorsOverview, type ScanContribution } from './modelOverview';

export interface OverviewParams {
  path: string;
}

declare module '../../protocol/workerProtocol' {
  interface WorkerMethods {
    'ext.overview': { params: OverviewParams; result: ModelOverview };
  }
}

registerHandler('ext.overview', async (params, ctx) => {
  const file = requirePath(params?.path, 'ext.overview');
  const ext = path.extname(file).toLowerCase();
  if (ext === '.safetensors') {
    ctx.progress('reading the safetensors header');
    const st = SafetensorsFile.open(file);
    try {
      return safetensorsOverview(st);
    } finally {
      st.close();
    }
  }
  ctx.progress('reading and validating the model');
  const model = OnnxModel.load(file);
  try {
    ctx.throwIfCancelled();
    ctx.progress('finding fusible sequences');
    return onnxOverview(model, scanFor(model));
  } finally {
    model.close();
  }
});

/**
 * The scan is an extra: when it fails on a model that loaded fine (a pattern
 * the detectors trip over), the overview still opens and says why the
 * sequences are missing, instead of the whole editor failing.
 */
function scanFor(model: OnnxModel): ScanContribution {
  try {
    const analysis = analyzeModel(model);
    return { candidates: analysis.scan.candidates.map(toCandidateJson), modules: analysis.tree.toJSON(), problem: null };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { candidates: [], modules: null, problem: err instanceof ModelFuseError ? message : `internal error in the scan: ${message}` };
  }
}

export function requirePath(value: unknown, method: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ModelFuseError(`${method}: a file path is required`);
  if (!path.isAbsolute(value)) throw fileError(value, 'the extension must pass absolute paths to the worker');
  return value;
}
