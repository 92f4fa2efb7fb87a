/**
 * Layers the exporter already fused: the dynamo exporter's optimizer folds a
 * BatchNorm into the Conv before it, leaving one node that stands for two
 * modules (`conv2` and `bn2`). Nothing is left to fold in ONNX, but the pair
 * is still a group for PyTorch's fuse_modules, so it is reported as a
 * grouping (folds: false, details.foldedByExporter). When such a node feeds a
 * Relu, the activation detector's conv-relu covers it and scan renames it
 * conv-bn-relu.
 *
 * A TorchScript eval export folds too but leaves no name for the BatchNorm
 * (graph/exporterFolds.ts): unless the model's checkpoint named it, the pair
 * is reported with the BatchNorm's module unknown (null) and the reason.
 */
import { knownAddress } from '../../graph/nodeAddress';
import { unnamedBatchNormReason } from '../exporterFoldReason';
import { isOp, type PatternDetector, type PatternMatch, type ScanContext } from '../scanContext';

export const exporterFoldedDetector: PatternDetector = {
  name: 'exporter-folded',
  patterns: ['conv-bn', 'convtranspose-bn', 'linear-bn'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const node of ctx.index.graph.node ?? []) {
      if (!isOp(node, 'Conv', 'ConvTranspose', 'Gemm', 'MatMul') || !ctx.isAddressable(node)) continue;
      const address = knownAddress(node) ?? node.name ?? '';
      const unnamed = ctx.exporterFolded.get(address);
      if (unnamed && !unnamed.batchNorm) {
        const conv = ctx.tree.moduleOf(address);
        out.push({
          pattern: 'conv-bn', nodes: [node], folds: false, blocked: null, modules: [conv, null],
          details: { kind: 'Conv', foldedByExporter: true, unnamedBatchNorm: unnamedBatchNormReason(unnamed, conv, null) },
        });
        continue;
      }
      if (ctx.tree.modulesOf(address).length < 2) continue;
      const pattern = node.op_type === 'Conv' ? 'conv-bn' : node.op_type === 'ConvTranspose' ? 'convtranspose-bn' : 'linear-bn';
      out.push({ pattern, nodes: [node], folds: false, blocked: null, details: { kind: node.op_type ?? '', foldedByExporter: true } });
    }
    return out;
  },
};
