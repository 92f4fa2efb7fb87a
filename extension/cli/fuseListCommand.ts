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

const USAGE = 'fuse-list MODEL';

export const fuseListCommand: CliCommand = {
  name: 'fuse-list',
  usage: USAGE,
  summary: 'print the torch.ao.quantization.fuse_modules(model, [...]) call for the groups safe in PyTorch',
  async run(argv: string[], io: CliIO): Promise<number> {
    const args = parseArgs(argv, COMMON_OPTIONS);
    const [modelPath] = requirePositionals(args, ['MODEL'], USAGE);
    // Module groups need no weight values: large payloads stay in the file.
    const model = OnnxModel.load(modelPath, { weights: 'on-demand' });
    try {
      io.out(formatFuseList(buildFuseList(analyzeModel(model)), modelPath));
    } finally {
      model.close();
    }
    return 0;
  },
};
