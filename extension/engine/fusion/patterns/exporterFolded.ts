/**
 * Layers the exporter already fused: the dynamo exporter's optimizer folds a
 * BatchNorm into the Conv before it, leaving one node that stands for two
 * modules (`conv2` and `bn2`). Nothing is left to fold in ONNX, but the pair
 * is still a group for PyTorch's fuse_modules, so it is reported as a
 * grouping (folds: false, details.foldedByExporter). When such a node feeds a
 * Relu, the activation detector's conv-relu covers it and scan renames it
 * conv-bn-relu.
 */
import { isOp, type PatternDetector, type PatternMatch, type ScanContext } from '../scanContext';

export const exporterFoldedDetector: PatternDetector = {
  name: 'exporter-folded',
  patterns: ['conv-bn', 'convtranspose-bn', 'linear-bn'],
  detect(ctx: ScanContext): PatternMatch[] {
    const out: PatternMatch[] = [];
    for (const node of ctx.index.graph.node ?? []) {
      if (!isOp(node, 'Conv', 'ConvTranspose', 'Gemm', 'MatMul') || !ctx.isAddressable(node)) continue;
      if (ctx.tree.modulesOf(node.name ?? '').length < 2) continue;
      const pattern = node.op_type === 'Conv' ? 'conv-bn' : node.op_type === 'ConvTranspose' ? 'convtranspose-bn' : 'linear-bn';
      out.push({ pattern, nodes: [node], folds: false, blocked: null, details: { kind: node.op_type ?? '', foldedByExporter: true } });
    }
    return out;
  },
};
