/**
 * The torch.nn layer types fuse_modules can fuse, and the sequences it
 * accepts: the keys of torch.ao.quantization.fuser_method_mappings
 * (_DEFAULT_OP_LIST_TO_FUSER_METHOD). Dimensions must agree (Conv2d goes
 * with BatchNorm2d); anything else — ReLU6, GELU, GroupNorm, F.relu — is not
 * fusable and ends a sequence.
 */
import type { PatternName } from '../fusion/candidate';

export type LayerKind = 'conv' | 'convtranspose' | 'bn' | 'linear' | 'relu';

export interface LayerType {
  kind: LayerKind;
  /** Spatial dimensions for conv / convtranspose / bn; undefined for linear and relu. */
  dim?: 1 | 2 | 3;
}

export function layerType(torchNnClass: string): LayerType | null {
  let m = /^Conv([123])d$/.exec(torchNnClass);
  if (m) return { kind: 'conv', dim: Number(m[1]) as 1 | 2 | 3 };
  m = /^ConvTranspose([123])d$/.exec(torchNnClass);
  if (m) return { kind: 'convtranspose', dim: Number(m[1]) as 1 | 2 | 3 };
  m = /^BatchNorm([123])d$/.exec(torchNnClass);
  if (m) return { kind: 'bn', dim: Number(m[1]) as 1 | 2 | 3 };
  if (torchNnClass === 'Linear') return { kind: 'linear' };
  if (torchNnClass === 'ReLU') return { kind: 'relu' };
  return null;
}

/**
 * The fuse_modules pattern for these layers in data-flow order, or null when
 * fuse_modules does not know the combination.
 */
export function fusablePattern(types: readonly LayerType[]): PatternName | null {
  const k = types.map((t) => t.kind).join('+');
  const sameDim = (a: LayerType, b: LayerType) => a.dim !== undefined && a.dim === b.dim;
  switch (k) {
    case 'conv+bn+relu': return sameDim(types[0], types[1]) ? 'conv-bn-relu' : null;
    case 'conv+bn': return sameDim(types[0], types[1]) ? 'conv-bn' : null;
    case 'conv+relu': return 'conv-relu';
    case 'linear+relu': return 'linear-relu';
    // BNReLU exists for 2d and 3d only (nni.BNReLU2d / BNReLU3d).
    case 'bn+relu': return types[0].dim === 2 || types[0].dim === 3 ? 'bn-relu' : null;
    case 'linear+bn': return types[1].dim === 1 ? 'linear-bn' : null;
    case 'convtranspose+bn': return sameDim(types[0], types[1]) ? 'convtranspose-bn' : null;
    default: return null;
  }
}

/** Longest first, so conv+bn+relu wins over conv+bn. */
export const MAX_SEQUENCE_LENGTH = 3;
