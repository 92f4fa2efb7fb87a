// `npm start`: the main job on the samples that ship in media/sample/ —
// scan a ResNet-style model, fuse it and verify the result in ONNX Runtime,
// then merge a PEFT LoRA adapter into a small transformer and verify that.
// Outputs go to out/sample/ (gitignored); the samples themselves are never modified.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const outDir = 'out/sample';
mkdirSync(outDir, { recursive: true });

function run(title, args) {
  console.log(`\n━━ ${title}\n$ node dist/cli.js ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\nnpm start: '${args[0]}' exited with ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

run('1. Scan: which sequences can be fused, and which are unsafe for torch fuse_modules', ['scan', 'media/sample/resnet_style.onnx']);
run('2. Fuse every exact fold, then verify the fused model against the original in ONNX Runtime', [
  'fuse', 'media/sample/resnet_style.onnx', '-o', `${outDir}/resnet_style.fused.onnx`, '--verify', '--force',
]);
run('3. The PyTorch fuse_modules call for the groups that are safe in PyTorch', ['fuse-list', 'media/sample/resnet_style.onnx']);
run('4. LoRA: how the adapter keys map onto the ONNX initializers (generated names included)', [
  'lora', 'plan', 'media/sample/tiny_llm_lora/base.onnx', '--adapter', 'media/sample/tiny_llm_lora/adapter',
]);
run('5. LoRA: merge the adapter into the ONNX base and verify how far the outputs moved', [
  'lora', 'media/sample/tiny_llm_lora/base.onnx', '--adapter', 'media/sample/tiny_llm_lora/adapter',
  '-o', `${outDir}/tiny_llm.merged.onnx`, '--verify', '--force',
]);
console.log(`\nDone. Outputs are in ${outDir}/.`);
