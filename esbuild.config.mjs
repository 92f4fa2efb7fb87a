// One esbuild config, one bundle per target (the layout of microsoft/vscode-hexeditor):
//   dist/cli.js        headless front end      (node)
//   dist/extension.js  VS Code extension host  (node, `vscode` external)
//   dist/worker.js     onnxruntime worker      (node)
//   dist/webview/*.js  UI code for webviews     (browser)
// onnxruntime-node is a native module: it stays external and ships in node_modules.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };
const nodeTargets = [
  { in: 'extension/cli.ts', out: 'dist/cli.js' },
  { in: 'extension/extension.ts', out: 'dist/extension.js' },
  { in: 'extension/workerProcess/workerMain.ts', out: 'dist/worker.js' },
].filter((t) => existsSync(t.in));
const webviewTargets = ['overview', 'diff', 'inspector', 'mapping']
  .map((name) => ({ in: `webview/${name}/main.ts`, out: `dist/webview/${name}.js` }))
  .filter((t) => existsSync(t.in));

const builds = [
  ...nodeTargets.map((t) => ({
    ...common, entryPoints: [t.in], outfile: t.out, platform: 'node', target: 'node20', format: 'cjs',
    // web-tree-sitter is bundled (its CommonJS build, loaded with require); its wasm files are copied below.
    external: ['vscode', 'onnxruntime-node'],
  })),
  ...webviewTargets.map((t) => ({
    ...common, entryPoints: [t.in], outfile: t.out, platform: 'browser', target: 'es2022', format: 'iife',
  })),
];

// The Python grammar for the CodeLens and tree-sitter's runtime, found next to the bundle at run time
// (extension/engine/python/treeSitter.ts looks in dist/ first).
mkdirSync('dist', { recursive: true });
for (const wasm of ['node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/tree-sitter-python/tree-sitter-python.wasm']) {
  copyFileSync(wasm, `dist/${wasm.split('/').pop()}`);
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
