/**
 * The walkthrough's samples (media/sample: a ResNet-style model, its PyTorch
 * definition, a tiny transformer with a PEFT LoRA adapter) are copied out of
 * the extension before use: the extension's own folder may be read-only and
 * is replaced on update, and fusing or merging writes beside the model. The
 * copies live in the extension's global storage, on the machine where the
 * extension runs (the remote side in a remote workspace), one folder per
 * version. Files already there are kept (a user's edits to model.py stay).
 * No vscode import: the host passes the folders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SampleFiles {
  folder: string;
  /** resnet_style.onnx: conv/bn/relu blocks with a shared relu. */
  model: string;
  /** model.py: the PyTorch definition of `model`. */
  python: string;
  /** tiny_llm_lora/base.onnx and its PEFT adapter folder. */
  loraBase: string;
  loraAdapter: string;
}

export function sampleFilesIn(folder: string): SampleFiles {
  return {
    folder,
    model: path.join(folder, 'resnet_style.onnx'),
    python: path.join(folder, 'model.py'),
    loraBase: path.join(folder, 'tiny_llm_lora', 'base.onnx'),
    loraAdapter: path.join(folder, 'tiny_llm_lora', 'adapter'),
  };
}

/** Copies the samples from `bundled` (the extension's media/sample) into `storage`/samples-`version`, keeping files already there. */
export function ensureSamples(bundled: string, storage: string, version: string): SampleFiles {
  const target = path.join(storage, `samples-${version}`);
  fs.mkdirSync(target, { recursive: true });
  // `force: false` leaves existing files alone; errorOnExist: false makes that silent.
  fs.cpSync(bundled, target, { recursive: true, force: false, errorOnExist: false });
  const files = sampleFilesIn(target);
  for (const f of [files.model, files.python, files.loraBase, files.loraAdapter]) {
    if (!fs.existsSync(f)) throw new Error(`${f}: the sample was not copied from ${bundled}`);
  }
  return files;
}
