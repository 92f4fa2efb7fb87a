/**
 * Activation must load no native module: the extension-host bundle may
 * import `vscode` and Node built-ins only — onnxruntime-node belongs to the
 * worker process. Checked on the real esbuild bundle of extension.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { builtinModules } from 'node:module';

const ROOT = path.resolve(__dirname, '../../..');

function externalImports(entry: string): string[] {
  const result = buildSync({
    entryPoints: [path.join(ROOT, entry)], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    external: ['vscode', 'onnxruntime-node'], write: false, metafile: true, logLevel: 'error', outfile: 'out.js',
  });
  const out = Object.values(result.metafile!.outputs)[0];
  return [...new Set(out.imports.filter((i) => i.external).map((i) => i.path))].sort();
}

test('the extension-host bundle imports only vscode and Node built-ins (no onnxruntime-node)', () => {
  const imports = externalImports('extension/extension.ts');
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const foreign = imports.filter((i) => i !== 'vscode' && !builtins.has(i));
  assert.deepEqual(foreign, []);
  assert.ok(imports.includes('vscode'));
});

test('control: the worker bundle does import onnxruntime-node (so the check above can fail)', () => {
  assert.ok(externalImports('extension/worker/workerMain.ts').includes('onnxruntime-node'));
});
