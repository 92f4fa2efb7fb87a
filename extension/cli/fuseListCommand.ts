/**
 * `modelfuse fuse-list MODEL`: the Python `torch.ao.quantization.fuse_modules`
 * call for the groups that are safe to fuse in the PyTorch model the ONNX file
 * was exported from; groups left out are listed as comments with the reason.
 */
import { buildFuseList, formatFuseList } from '../engine/fusion/fuseList';
import type { CliCommand, CliIO } from './command';
import { withModelAnalysis } from './analyzeFromArgs';

const USAGE = 'fuse-list MODEL [--weights STATE_DICT.safetensors] [--python MODEL.py]';

export const fuseListCommand: CliCommand = {
  name: 'fuse-list',
  usage: USAGE,
  summary: 'print the torch.ao.quantization.fuse_modules(model, [...]) call for the groups safe in PyTorch',
  async run(argv: string[], io: CliIO): Promise<number> {
    await withModelAnalysis(argv, io, USAGE, (analysis, modelPath) => io.out(formatFuseList(buildFuseList(analysis), modelPath)));
    return 0;
  },
};
