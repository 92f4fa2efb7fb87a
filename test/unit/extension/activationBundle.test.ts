/**
 * Activation must load no native module: the extension-host bundle may
 * import `vscode` and Node built-ins only — onnxruntime-node belongs to the
 * worker process. Checked on the real esbuild bundle of extension.ts. And
 * neither front end (extension host, CLI) bundles a file of the worker child
 * process (extension/workerProcess/): they talk to it through workerClient/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { builtinModules } from 'node:module';

const ROOT = path.resolve(__dirname, '../../..');

function bundle(entry: string) {
  const result = buildSync({
    entryPoints: [path.join(ROOT, entry)], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    external: ['vscode', 'onnxruntime-node'], write: false, metafile: true, logLevel: 'error', outfile: 'out.js', absWorkingDir: ROOT,
  });
  return result.metafile!;
}

function externalImports(entry: string): string[] {
  const out = Object.values(bundle(entry).outputs)[0];
  return [...new Set(out.imports.filter((i) => i.external).map((i) => i.path))].sort();
}

/** The repository files a bundle is made of (paths relative to the repository, '/'-separated). */
function bundledFiles(entry: string): string[] {
  return Object.keys(bundle(entry).inputs).map((p) => path.relative(ROOT, path.resolve(ROOT, p)).split(path.sep).join('/'));
}

test('the extension-host bundle imports only vscode and Node built-ins (no onnxruntime-node)', () => {
  const imports = externalImports('extension/extension.ts');
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const foreign = imports.filter((i) => i !== 'vscode' && !builtins.has(i));
  assert.deepEqual(foreign, []);
  assert.ok(imports.includes('vscode'));
});

test('control: the worker bundle does import onnxruntime-node (so the check above can fail)', () => {
  assert.ok(externalImports('extension/workerProcess/workerMain.ts').includes('onnxruntime-node'));
});

test('the extension host and the CLI bundle no file of the worker child process (extension/workerProcess/)', () => {
  for (const entry of ['extension/extension.ts', 'extension/cli.ts']) {
    const files = bundledFiles(entry);
    assert.ok(files.some((f) => f.startsWith('extension/workerClient/')), `${entry} talks to the worker through workerClient/`);
    assert.deepEqual(files.filter((f) => f.startsWith('extension/workerProcess/')), [], entry);
  }
  assert.ok(bundledFiles('extension/workerProcess/workerMain.ts').some((f) => f.startsWith('extension/workerProcess/handlers/')), 'control: the worker bundle does');
});
