/**
 * What `model/overview` computes for a file, without the handler registration,
 * so tests build exactly the overview the editor and the side panel get.
 *
 * An ONNX model is opened with `weights: 'on-demand'`: the overview, the
 * scan and the module tree read names, types and shapes, not weight values,
 * so a large model costs its graph skeleton to open, not its weights. The
 * rare detector that does read a weight (a LoRA scale held in a big tensor,
 * a DoRA norm) reads it from the file through the descriptor the model
 * keeps open, which is why the model is closed only after the scan.
 */
import * as path from 'node:path';
import { ModelFuseError } from '../../engine/errors';
import { OnnxModel } from '../../engine/onnx/model';
import { SafetensorsFile } from '../../engine/safetensors/safetensors';
import { toCandidateView } from '../../engine/fusion/candidateView';
import { buildFuseList, formatFuseList } from '../../engine/fusion/fuseList';
import type { ModelOverview } from '../../protocol/modelOverview';
import type { HandlerContext } from '../registry';
import type { PythonDefinition } from '../../engine/graph/pythonFolds';
import { onnxOverview, safetensorsOverview, type ScanContribution } from './modelOverview';
import { analyzeAsShown, rememberDefinition } from './modelAnalysis';

export function overviewOfFile(file: string, ctx: Pick<HandlerContext, 'progress' | 'throwIfCancelled'>, python?: PythonDefinition): ModelOverview {
  if (path.extname(file).toLowerCase() === '.safetensors') {
    ctx.progress('reading the safetensors header');
    const st = SafetensorsFile.open(file);
    try {
      return safetensorsOverview(st);
    } finally {
      st.close();
    }
  }
  ctx.progress('reading and validating the model');
  const model = OnnxModel.load(file, { weights: 'on-demand' });
  try {
    ctx.throwIfCancelled();
    ctx.progress('finding fusible sequences');
    rememberDefinition(file, python);
    return onnxOverview(model, scanFor(model, python));
  } finally {
    model.close();
  }
}

/**
 * The scan is an extra: when it fails on a model that loaded fine (a pattern
 * the detectors trip over), the overview still opens and says why the
 * sequences are missing, instead of the whole editor failing.
 */
export function scanFor(model: OnnxModel, python?: PythonDefinition): ScanContribution {
  try {
    const analysis = analyzeAsShown(model, python);
    const list = buildFuseList(analysis);
    return {
      candidates: analysis.scan.candidates.map(toCandidateView),
      modules: analysis.tree.toJSON(),
      fuseList: {
        python: formatFuseList(list, path.basename(model.path)),
        groups: list.groups.map((g) => g.modules),
        excluded: list.excluded.map((e) => ({ modules: e.modules, reason: e.reason })),
      },
      problem: null,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { candidates: [], modules: null, fuseList: null, problem: err instanceof ModelFuseError ? message : `internal error in the scan: ${message}` };
  }
}
