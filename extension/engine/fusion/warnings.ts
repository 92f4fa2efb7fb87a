/**
 * What a candidate warns about, as data: the engine says which kind and about
 * what; each front end words it (the CLI and tooltips the whole sentence, the
 * side panel and the overview a short label). A shared *weight* (one tensor,
 * several readers: the fold gives this node its own copy) and a shared
 * *module* (one PyTorch module called from several places: fuse_modules would
 * break every call) are different facts and must never read alike.
 */
export type CandidateWarning =
  | { kind: 'shared-module'; module: string; sites: string[] }
  | { kind: 'shared-weight'; weight: string; readers: string[] };

export function sharedModuleWarning(module: string, sites: string[]): CandidateWarning {
  return { kind: 'shared-module', module, sites };
}

/** A weight other nodes also read is not changed in place: the fold gives this node its own copy. */
export function sharedWeightWarning(weight: string, readers: string[]): CandidateWarning {
  return { kind: 'shared-weight', weight, readers };
}

export function isSharedModuleWarning(w: CandidateWarning): boolean {
  return w.kind === 'shared-module';
}

function quotedList(items: string[], shown: number, rest: (n: number) => string, sep = ', '): string {
  return items.slice(0, shown).map((s) => `'${s}'`).join(sep) + (items.length > shown ? rest(items.length) : '');
}

/** The whole sentence: for the CLI, JSON consumers and tooltips. */
export function warningText(w: CandidateWarning): string {
  switch (w.kind) {
    case 'shared-module':
      return `shared module '${w.module}' is called from ${w.sites.length} places (${quotedList(w.sites, 4, (n) => `, … (${n} in all)`)}): torch.ao.quantization.fuse_modules on this group would replace '${w.module}' by Identity at every call, silently breaking the model`;
    case 'shared-weight':
      return `weight '${w.weight}' is also read by ${quotedList(w.readers, 3, (n) => ` and ${n - 3} more`)}; folding gives this node its own copy and leaves theirs unchanged`;
  }
}

/** A few words for a list row ("folds exactly · shared weight"). */
export function warningLabel(w: CandidateWarning): string {
  return w.kind === 'shared-module' ? 'shared module' : 'shared weight';
}

/**
 * One line for a table cell. `foldsInOnnx`: only a row that folds in ONNX can promise an exact
 * fold; a grouping-only row changes nothing in ONNX.
 */
export function warningGist(w: CandidateWarning, foldsInOnnx: boolean): string {
  switch (w.kind) {
    case 'shared-module':
      return `shared module '${w.module}' (called ${w.sites.length}×): keep this group out of PyTorch's fuse_modules${foldsInOnnx ? '; the ONNX fold is exact' : ''}`;
    case 'shared-weight':
      return `shared weight '${w.weight}' (also read by ${w.readers.length} other node${w.readers.length === 1 ? '' : 's'}): the fold gives this node its own copy`;
  }
}
