/**
 * How the sizes of a model's dynamic input dimensions were chosen for
 * verification (inputShapes.ts decides; the inputs dialog shows it).
 * Plain data, no Node.
 */
export type DimSource = 'model' | 'given' | 'declared' | 'constant' | 'batch' | 'image' | 'fitted' | 'sequence' | 'guessed';

export interface InputShapeChoice {
  name: string;
  dtype: string;
  /** The model's declaration: numbers, or symbols / null for dynamic dims. */
  declared: readonly (number | string | null)[];
  dims: number[];
  /** Where each dim came from. */
  sources: DimSource[];
  /** One phrase for the report: "batch 1; 224×224: a multiple of the total stride 32". */
  how: string;
}

export interface InputShapePlan {
  inputs: InputShapeChoice[];
  /** Largest cumulative stride (downsampling) of a Conv or pooling path from an input, per spatial axis counted from the last; [] when none. */
  totalStride: number[];
  /** Inputs with a dimension nothing in the model or the conventions decides (set to 1). */
  guessed: string[];
}
