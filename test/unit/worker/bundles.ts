/**
 * Fresh bundles of the CLI and the worker for tests, built with the same
 * esbuild settings as esbuild.config.mjs but into a private folder (several
 * test files and developers build at once; dist/ may be stale or half-written).
 * The folder is under node_modules/.cache so the bundles resolve
 * onnxruntime-node, which stays external, from the repository's node_modules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = path.resolve(__dirname, '../../..');
let built: { dir: string; cli: string; worker: string } | undefined;

export function testBundles(): { dir: string; cli: string; worker: string } {
  if (built) return built;
  const dir = path.join(ROOT, 'node_modules', '.cache', `modelfuse-test-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const common = {
    bundle: true, platform: 'node' as const, target: 'node20', format: 'cjs' as const, logLevel: 'error' as const,
    external: ['vscode', 'onnxruntime-node', 'web-tree-sitter'],
  };
  buildSync({ ...common, entryPoints: [path.join(ROOT, 'extension/workerProcess/workerMain.ts')], outfile: path.join(dir, 'worker.js') });
  buildSync({ ...common, entryPoints: [path.join(ROOT, 'extension/cli.ts')], outfile: path.join(dir, 'cli.js') });
  built = { dir, cli: path.join(dir, 'cli.js'), worker: path.join(dir, 'worker.js') };
  return built;
}
