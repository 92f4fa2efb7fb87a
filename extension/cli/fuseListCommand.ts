/**
 * `modelfuse fuse-list MODEL`: the Python `torch.ao.quantization.fuse_modules`
 * call for the groups that are safe to fuse in the PyTorch model the ONNX file
 * was exported from; groups left out are listed as comments with the reason.
 */
import { OnnxModel } from '../engine/onnx/model';
import { analyzeModel } from '../engine/fusion/scan';
import { buildFuseList, formatFuseList } from '../engine/fusion/fuseList';
import type { CliCommand, CliIO } from './command';
import { COMMON_OPTIONS, parseArgs, requirePositionals } from './args';
import { checkpointSource, WEIGHTS_OPTION } from './checkpointOption';
import { PYTHON_OPTION, pythonDefinition } from './pythonOption';

const USAGE = 'fuse-list MODEL [--weights STATE_DICT.safetensors] [--python MODEL.py]';

export const fuseListCommand: CliCommand = {
  name: 'fuse-list',
  usage: USAGE,
  summary: 'print the torch.ao.quantization.fuse_modules(model, [...]) call for the groups safe in PyTorch',
  async run(argv: string[], io: CliIO): Promise<number> {
    const args = parseArgs(argv, { ...COMMON_OPTIONS, ...WEIGHTS_OPTION, ...PYTHON_OPTION });
    const [modelPath] = requirePositionals(args, ['MODEL'], USAGE);
    const python = await pythonDefinition(args, io);
    // Module groups need no weight values: large payloads stay in the file.
    const model = OnnxModel.load(modelPath, { weights: 'on-demand' });
    const checkpoint = checkpointSource(args, modelPath, io);
    try {
      io.out(formatFuseList(buildFuseList(analyzeModel(model, { checkpoint: () => checkpoint.open(), python })), modelPath));
    } finally {
      checkpoint.close();
      model.close();
    }
    return 0;
  },
};
