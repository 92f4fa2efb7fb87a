/**
 * The one rule for matching module paths across PEFT's two naming forms.
 *
 * A PEFT model wraps the user's model: its state-dict keys, and so the module
 * tree recovered from an export, read `base_model.model.layers.0.attn.q_proj`
 * with children `base_layer` (the original layer) and `lora_A`/`lora_B`
 * (ModuleDicts keyed by adapter name, `lora_A.default`). A LoRA branch names
 * the layer as the user knows it, `layers.0.attn.q_proj`; other sequences
 * take the tree's path as is. The tree view, "Fuse selected modules" and
 * Reveal compare paths only through the functions here, so they agree.
 *
 * Assumption: `base_model.model` (and `base_model` above it) are PEFT's
 * wrappers of the whole model, as the PEFT parameter names elsewhere in the
 * engine already assume.
 */

/** PEFT's wrapper of the whole model: `PeftModel.base_model` (the LoraModel) `.model` (the user's model). */
const PEFT_ROOT = /^base_model\.model(?:\.|$)/;
/** The children PEFT adds inside an adapted layer (the wrapped layer, the adapter's modules and their per-adapter entries). */
const PEFT_LAYER_PART = /\.(?:base_layer|lora_(?:A|B|dropout|embedding_A|embedding_B|magnitude_vector)(?:\.[^.]+)?)$/;

/**
 * The adapted layer's path as the user's model names it:
 * `base_model.model.layers.0.attn.q_proj.base_layer` → `layers.0.attn.q_proj`,
 * `….conv1.lora_A.default` → `conv1`, `base_model.model` → '' (the model).
 * Paths without PEFT names come back unchanged.
 */
export function peftModuleName(path: string): string {
  return path.replace(PEFT_ROOT, '').replace(PEFT_LAYER_PART, '');
}

/** Whether two module paths (either form) name the same layer. */
export function isSameModule(a: string, b: string): boolean {
  return peftModuleName(a) === peftModuleName(b);
}

/**
 * Whether `module` is `container` or lies inside it, both in either form.
 * '' (the model), `base_model` and `base_model.model` contain every module.
 */
export function isModuleWithin(container: string, module: string): boolean {
  const c = peftModuleName(container);
  const m = peftModuleName(module);
  return c === '' || container === 'base_model' || m === c || m.startsWith(`${c}.`);
}
