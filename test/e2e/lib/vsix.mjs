// The .vsix under test is the one users install: made by the extension's own `npm run package`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { E2E_DIR } from './deps.mjs';
import { runOrThrow } from './processes.mjs';

const REPO = path.resolve(E2E_DIR, '..', '..');

function vsixFilesIn(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.vsix'))
    .map((name) => path.join(dir, name));
}

/**
 * Returns the path of a freshly packaged linux-x64 .vsix. MODELFUSE_E2E_VSIX names an existing
 * one instead (to iterate on scenarios without repackaging).
 */
export function packageExtension() {
  const given = process.env.MODELFUSE_E2E_VSIX;
  if (given) {
    if (!existsSync(given)) throw new Error(`MODELFUSE_E2E_VSIX=${given} does not exist`);
    return { vsixPath: path.resolve(given), tookMs: 0 };
  }
  const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  if (!manifest.scripts?.package) {
    throw new Error('package.json has no "package" script: the extension cannot be packaged yet');
  }
  const started = Date.now();
  const tookMs = runOrThrow('npm', ['run', 'package'], { cwd: REPO });
  // Whichever .vsix the script wrote during this run (root or dist/), preferring linux-x64.
  const fresh = [...vsixFilesIn(REPO), ...vsixFilesIn(path.join(REPO, 'dist'))]
    .filter((file) => statSync(file).mtimeMs >= started - 1_000)
    .sort((a, b) => Number(/linux-x64/.test(b)) - Number(/linux-x64/.test(a)));
  if (fresh.length === 0) throw new Error('`npm run package` finished but wrote no .vsix');
  return { vsixPath: fresh[0], tookMs };
}
