/**
 * The per-output-channel map a BatchNormalization fold applied, recomputed
 * from the ORIGINAL model's BN parameters: scale = γ/√(σ²+ε), shift =
 * β − μ·scale (the same float64 arithmetic the fold uses). Read from the
 * first model because the fused one no longer has the BN.
 */
import { attrFloat } from '../graph/graphIndex';
import { nodeAddresses } from '../graph/nodeAddress';
import type { OnnxParamSource } from './paramSource';
import type { ChannelAffineStats, FoldRecord } from './paramDiffTypes';

export function batchNormChannels(original: OnnxParamSource, fold: FoldRecord): ChannelAffineStats | null {
  const graph = original.model.graph;
  // fold.nodes are scan's addresses: the name, or `BatchNormalization#3` for an unnamed / duplicate-named node.
  const addresses = nodeAddresses(graph.node ?? []);
  const bn = (graph.node ?? []).find((n) => n.op_type === 'BatchNormalization' && fold.nodes.includes(addresses.get(n) ?? ''));
  if (!bn) return null;
  const read = (slot: number): Float64Array | null => {
    const t = original.index.constantTensor(bn.input?.[slot] ?? '');
    return t ? original.model.tensorValues(t) : null;
  };
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map(read);
  if (!gamma || !beta || !mean || !variance) return null;
  const epsilon = attrFloat(bn, 'epsilon', 1e-5);
  const channels = gamma.length;
  if (beta.length !== channels || mean.length !== channels || variance.length !== channels) return null;
  const scale = new Array<number>(channels);
  const shift = new Array<number>(channels);
  for (let o = 0; o < channels; o++) {
    scale[o] = gamma[o] / Math.sqrt(variance[o] + epsilon);
    shift[o] = beta[o] - mean[o] * scale[o];
  }
  return { bnNode: addresses.get(bn) ?? '', epsilon, scale, shift };
}
