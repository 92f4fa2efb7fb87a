/**
 * The words for a Conv whose BatchNorm the exporter folded away without a name
 * (graph/exporterFolds.ts): why its PyTorch group cannot be given, and what
 * would give it. One text for scan, fuse-list and the extension.
 */
import type { ExporterFoldedConv } from '../graph/exporterFolds';

export function unnamedBatchNormReason(f: ExporterFoldedConv, conv: string | null, next: string | null): string {
  const convName = conv ? `'${conv}'` : `'${f.node}'`;
  const what = f.certainty === 'folded'
    ? `the exporter folded a BatchNorm into ${convName} (its weight is '${f.weight}', computed at export, not a parameter of the model)`
    : `${convName} reads '${f.weight}', a weight the exporter may have computed by folding a BatchNorm into it (this file names no parameter, so it cannot tell)`;
  const trap = next
    ? `; in the PyTorch model that BatchNorm sits between ${convName} and '${next}', and fuse_modules on [${convName}, '${next}'] would apply the ReLU before it, silently changing the model`
    : '; the PyTorch model still has that BatchNorm, which this file does not name';
  const found = f.resolution ? ` What was given did not name it: ${f.resolution}.` : '';
  return `${what}${trap}.${found} To name it, put the model's state dict (.safetensors) beside the model or give it as its weights, or give the model's Python definition; or export with training=torch.onnx.TrainingMode.PRESERVE (or dynamo with optimize=False) to keep the BatchNorm.`;
}
