/**
 * What `scan` and `fuse-list` share: parse MODEL with --weights and --python,
 * load the model with its weights left in the file (neither reads a value),
 * analyse it with the evidence the options give, and close everything after.
 */
import { OnnxModel } from '../engine/onnx/model';
import { analyzeModel, type ModelAnalysis } from '../engine/fusion/scan';
import type { CliIO } from './command';
import { COMMON_OPTIONS, parseArgs, requirePositionals, type ParsedArgs } from './args';
import { checkpointSource, WEIGHTS_OPTION } from './checkpointOption';
import { PYTHON_OPTION, pythonDefinition } from './pythonOption';

export async function withModelAnalysis<T>(
  argv: string[],
  io: CliIO,
  usage: string,
  use: (analysis: ModelAnalysis, modelPath: string, args: ParsedArgs) => T,
): Promise<T> {
  const args = parseArgs(argv, { ...COMMON_OPTIONS, ...WEIGHTS_OPTION, ...PYTHON_OPTION });
  const [modelPath] = requirePositionals(args, ['MODEL'], usage);
  const python = await pythonDefinition(args, io);
  const model = OnnxModel.load(modelPath, { weights: 'on-demand' });
  const checkpoint = checkpointSource(args, modelPath, io);
  try {
    return use(analyzeModel(model, { checkpoint: () => checkpoint.open(), python }), modelPath, args);
  } finally {
    checkpoint.close();
    model.close();
  }
}
