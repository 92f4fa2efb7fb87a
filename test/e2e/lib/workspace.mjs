// The folders the scenarios open, made fresh for every run from the repository's fixtures, so a
// run never sees files an earlier run wrote (a fused model, a merged model, an edited .py).
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { E2E_DIR } from './deps.mjs';

const REPO = path.resolve(E2E_DIR, '..', '..');
const FIXTURES = path.join(REPO, 'test', 'fixtures');

function copyInto(dir, from, name = path.basename(from)) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(from, path.join(dir, name));
  return path.join(dir, name);
}

/**
 * The trusted workspace:
 *   resnet/resstyle.onnx           zoo_resstyle (PyTorch export; conv-bn and conv-bn-relu groups, a shared relu)
 *   compare/resstyle_copy.onnx     the same model, fused separately by the diff scenario
 * (distinct file names, so an Explorer row is found by its name alone)
 *   lora/base.onnx + lora/adapters/   the PEFT LoRA fixture (q_proj/v_proj, r=4)
 *   broken/corrupt.onnx      the first half of a real model: an interrupted download
 *   python/basic_block.py    a torchvision-style BasicBlock definition
 */
export function makeTrustedWorkspace(baseDir) {
  const root = path.join(baseDir, 'workspace');
  const model = path.join(FIXTURES, 'zoo_resstyle', 'model.onnx');
  const files = {
    root,
    model: copyInto(path.join(root, 'resnet'), model, 'resstyle.onnx'),
    diffModel: copyInto(path.join(root, 'compare'), model, 'resstyle_copy.onnx'),
    loraBase: copyInto(path.join(root, 'lora'), path.join(FIXTURES, 'lora_linear_qv', 'base.onnx')),
    loraAdapters: path.join(root, 'lora', 'adapters'),
    corrupt: path.join(root, 'broken', 'corrupt.onnx'),
    python: copyInto(path.join(root, 'python'), path.join(E2E_DIR, 'fixtures', 'basic_block.py')),
  };
  cpSync(path.join(FIXTURES, 'lora_linear_qv', 'adapters'), files.loraAdapters, { recursive: true });
  const bytes = readFileSync(model);
  mkdirSync(path.dirname(files.corrupt), { recursive: true });
  writeFileSync(files.corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)));
  return files;
}

/** A workspace that is opened without trust: the same model and LoRA files. */
export function makeUntrustedWorkspace(baseDir) {
  const root = path.join(baseDir, 'untrusted-workspace');
  const files = {
    root,
    model: copyInto(path.join(root, 'resnet'), path.join(FIXTURES, 'zoo_resstyle', 'model.onnx'), 'resstyle.onnx'),
    loraBase: copyInto(path.join(root, 'lora'), path.join(FIXTURES, 'lora_linear_qv', 'base.onnx')),
    loraAdapters: path.join(root, 'lora', 'adapters'),
  };
  cpSync(path.join(FIXTURES, 'lora_linear_qv', 'adapters'), files.loraAdapters, { recursive: true });
  return files;
}
