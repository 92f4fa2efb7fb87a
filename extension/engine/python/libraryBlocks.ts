/**
 * torchvision.ops blocks whose children are known without reading their
 * source: `Conv2dNormActivation` is an nn.Sequential of [conv, norm, act]
 * (norm and act left out when passed None), `SqueezeExcitation` calls
 * avgpool → fc1 → activation → fc2 → scale_activation. Written from
 * torchvision/ops/misc.py (0.14); the argument positions are the
 * constructors' own.
 */

export interface LibraryChild {
  /** The attribute name; for an indexed block the child is numbered among the present ones. */
  name?: string;
  /** The torch.nn class when no argument chooses it, or null for "absent". */
  defaultClass: string | null;
  /** The constructor argument that chooses the class (keyword name and positional index). */
  param?: { keyword: string; position: number };
}

export interface LibraryBlock {
  /** Children named 0, 1, 2 … (nn.Sequential) rather than by attribute. */
  indexed: boolean;
  /** In the order forward() calls them. */
  children: LibraryChild[];
}

const convNormActivation = (conv: string, norm: string, convParam?: LibraryChild['param']): LibraryBlock => ({
  indexed: true,
  children: [
    { defaultClass: conv, ...(convParam ? { param: convParam } : {}) },
    { defaultClass: norm, param: { keyword: 'norm_layer', position: 6 } },
    { defaultClass: 'ReLU', param: { keyword: 'activation_layer', position: 7 } },
  ],
});

const BLOCKS: Record<string, LibraryBlock> = {
  Conv2dNormActivation: convNormActivation('Conv2d', 'BatchNorm2d'),
  Conv3dNormActivation: convNormActivation('Conv3d', 'BatchNorm3d'),
  // The deprecated base class takes the conv layer as its twelfth argument.
  ConvNormActivation: convNormActivation('Conv2d', 'BatchNorm2d', { keyword: 'conv_layer', position: 11 }),
  SqueezeExcitation: {
    indexed: false,
    children: [
      { name: 'avgpool', defaultClass: 'AdaptiveAvgPool2d' },
      { name: 'fc1', defaultClass: 'Conv2d' },
      { name: 'activation', defaultClass: 'ReLU', param: { keyword: 'activation', position: 2 } },
      { name: 'fc2', defaultClass: 'Conv2d' },
      { name: 'scale_activation', defaultClass: 'Sigmoid', param: { keyword: 'scale_activation', position: 3 } },
    ],
  },
};

export function libraryBlock(torchvisionOpsClass: string): LibraryBlock | null {
  return BLOCKS[torchvisionOpsClass] ?? null;
}
