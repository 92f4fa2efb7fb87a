// The folders the scenarios open, made fresh for every run from the repository's fixtures, so a
// run never sees files an earlier run wrote (a fused model, a merged model, an edited .py).
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { E2E_DIR } from './deps.mjs';

const REPO = path.resolve(E2E_DIR, '..', '..');
const FIXTURES = path.join(REPO, 'test', 'fixtures');
/** torchvision's own model definitions, from Debian's python3-torchvision (not copied into the repository). */
export const TORCHVISION_MODELS = '/usr/lib/python3/dist-packages/torchvision/models';

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
 *   lora/peft_unmerged.onnx  the same adapter exported unmerged (LoRA branches in the graph)
 *   broken/corrupt.onnx      the first half of a real model: an interrupted download
 *   broken/download.onnx     an HTML error page saved under a model's name (a failed download)
 *   python/basic_block.py    a torchvision-style BasicBlock definition
 *   peft/base.safetensors + peft/qv_adapter/   the PEFT fixture's safetensors base beside its adapter
 *   renamed/renamed_base.safetensors + renamed/renamed_adapter/   the same base saved under other
 *                            names (blocks.N.attention.query …): no adapter key matches by name
 *   dynamic/det_dynamic.onnx + det_input.npy   a paddle2onnx-style model with input [?, 3, ?, ?]
 *                            (fixtures/generate-dynamic.ts) and an image for it
 *   folded/stem_block.onnx + folded/stem_model.py   an eval-default PyTorch export (the exporter folded
 *                            its BatchNorms and named none) alone in its folder, and the Python file
 *                            that defines it; folded/helpers.py defines no class
 *   tied/tied_base.onnx + tied/tied_adapter/   two Gemms reading one weight, and an adapter for one
 *                            of them (fixtures/generate-tied.ts)
 *   torchvision/resnet.py, torchvision/mobilenetv2.py   copied at run time from the installed
 *                            python3-torchvision; `torchvision` is null when it is not installed
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
    peftUnmerged: copyInto(path.join(root, 'lora'), path.join(FIXTURES, 'lora_linear_qv', 'peft_unmerged.onnx')),
    corrupt: path.join(root, 'broken', 'corrupt.onnx'),
    python: copyInto(path.join(root, 'python'), path.join(E2E_DIR, 'fixtures', 'basic_block.py')),
    htmlModel: path.join(root, 'broken', 'download.onnx'),
    peftBase: copyInto(path.join(root, 'peft'), path.join(FIXTURES, 'lora_linear_qv', 'base.safetensors')),
    peftAdapter: path.join(root, 'peft', 'qv_adapter'),
    renamedBase: path.join(root, 'renamed', 'renamed_base.safetensors'),
    renamedAdapter: path.join(root, 'renamed', 'renamed_adapter'),
    dynamicModel: copyInto(path.join(root, 'dynamic'), path.join(E2E_DIR, 'fixtures', 'det_dynamic.onnx')),
    dynamicInput: copyInto(path.join(root, 'dynamic'), path.join(E2E_DIR, 'fixtures', 'det_input.npy')),
    foldedModel: copyInto(path.join(root, 'folded'), path.join(FIXTURES, 'exporter-folded', 'stem_block', 'model.onnx'), 'stem_block.onnx'),
    tiedBase: copyInto(path.join(root, 'tied'), path.join(E2E_DIR, 'fixtures', 'tied', 'tied_base.onnx')),
    tiedAdapter: path.join(root, 'tied', 'tied_adapter'),
    foldedPython: copyInto(path.join(root, 'folded'), path.join(FIXTURES, 'exporter-folded', 'stem_block', 'model.py'), 'stem_model.py'),
    foldedHelpers: path.join(root, 'folded', 'helpers.py'),
  };
  writeFileSync(files.foldedHelpers, 'import torch\n\n\ndef seed(n):\n    torch.manual_seed(n)\n');
  files.torchvision = existsSync(path.join(TORCHVISION_MODELS, 'resnet.py'))
    ? Object.fromEntries(['resnet.py', 'mobilenetv2.py'].map((f) => [f, copyInto(path.join(root, 'torchvision'), path.join(TORCHVISION_MODELS, f))]))
    : null;
  cpSync(path.join(FIXTURES, 'lora_linear_qv', 'adapters'), files.loraAdapters, { recursive: true });
  cpSync(path.join(E2E_DIR, 'fixtures', 'tied', 'tied_adapter'), files.tiedAdapter, { recursive: true });
  cpSync(path.join(FIXTURES, 'lora_linear_qv', 'adapters'), files.peftAdapter, { recursive: true });
  cpSync(path.join(FIXTURES, 'lora_linear_qv', 'adapters'), files.renamedAdapter, { recursive: true });
  writeRenamedSafetensors(path.join(FIXTURES, 'lora_linear_qv', 'base.safetensors'), files.renamedBase);
  const bytes = readFileSync(model);
  mkdirSync(path.dirname(files.corrupt), { recursive: true });
  writeFileSync(files.corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(files.htmlModel, '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1><p>The requested model was not found on this server.</p></body></html>\n');
  return files;
}

/** The fixture's tensor names in another code base's spelling (layers.0.attn.q_proj → blocks.0.attention.query). */
export function renamedTensor(name) {
  return name.replace(/^layers\./, 'blocks.').replace('.attn.', '.attention.').replace('q_proj', 'query').replace('k_proj', 'key').replace('v_proj', 'value').replace('o_proj', 'out');
}

/** Copies a .safetensors file with every tensor renamed (same bytes, new header). */
function writeRenamedSafetensors(from, to) {
  const bytes = readFileSync(from);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const renamed = Object.fromEntries(Object.entries(header).map(([name, info]) => [name === '__metadata__' ? name : renamedTensor(name), info]));
  let json = JSON.stringify(renamed);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  mkdirSync(path.dirname(to), { recursive: true });
  writeFileSync(to, Buffer.concat([length, Buffer.from(json, 'utf8'), bytes.subarray(8 + headerLength)]));
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
