/** A tensor of an adapter file, by its key and shape (read only when a merge needs its values). */
export interface TensorRef {
  key: string;
  shape: number[];
}
