#!/usr/bin/env node
// End-to-end tests of ModelFuse in a real VS Code: packages the .vsix, installs it into
// code-server (VS Code 1.139 for the browser, on Node 24), opens fixture workspaces in Debian's
// Chromium via playwright-core and runs the scenarios in scenarios/. Prints one line per scenario
// and closes with "e2e: N passed, N failed". Browser and servers are always stopped.
//
//   node test/e2e/run.mjs            all scenarios
//   node test/e2e/run.mjs 2 fuse     only scenarios whose number or name matches an argument
//   MODELFUSE_E2E_VSIX=x.vsix …      use an existing package instead of `npm run package`
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser } from './lib/browser.mjs';
import { folderUrl, startCodeServer, stopCodeServer } from './lib/codeServer.mjs';
import { E2E_DIR, ensureE2eDependencies } from './lib/deps.mjs';
import { armWatchdog } from './lib/processes.mjs';
import { printResult, runScenario } from './lib/runner.mjs';
import { packageExtension } from './lib/vsix.mjs';
import { openWorkbench } from './lib/workbench.mjs';
import { makeTrustedWorkspace, makeUntrustedWorkspace } from './lib/workspace.mjs';

const REPO = path.resolve(E2E_DIR, '..', '..');
const RESULTS = path.join(REPO, 'test-results', 'e2e');
const RUN_LIMIT_MS = Number(process.env.MODELFUSE_E2E_TIMEOUT_MS ?? 30 * 60_000);

/** The servers scenarios ask for (`scenario.server`): each starts with fresh user data and the .vsix just installed. */
const SERVER_KINDS = {
  trusted: { workspaceTrust: false, workspace: 'trusted' },
  untrusted: { workspaceTrust: true, workspace: 'untrusted' },
  // A first start as users have it: walkthroughs open on install (the quiet settings turn that off).
  'first-start': { workspaceTrust: false, workspace: 'trusted', settings: { 'workbench.welcomePage.walkthroughs.openOnInstall': true } },
};

async function loadScenarios(filters) {
  const dir = path.join(E2E_DIR, 'scenarios');
  const files = readdirSync(dir).filter((name) => name.endsWith('.mjs')).sort();
  const scenarios = [];
  for (const file of files) scenarios.push((await import(path.join(dir, file))).default);
  if (filters.length === 0) return scenarios;
  return scenarios.filter((scenario) =>
    filters.some((filter) => String(scenario.id) === filter || scenario.name.toLowerCase().includes(filter.toLowerCase())),
  );
}

/** Every file of the server's logs whose name contains `namePart` (e.g. the ModelFuse output channel). */
function logFiles(dir, namePart) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { recursive: true })) {
    const file = path.join(dir, entry);
    if (path.basename(file).includes(namePart) && statSync(file).isFile()) found.push(file);
  }
  return found;
}

function extensionLog(server) {
  return logFiles(path.join(server.dirs.userData, 'logs'), 'ModelFuse')
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
}

function keepServerLogs(server) {
  const target = path.join(RESULTS, 'logs', server.name);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  cpSync(server.dirs.log, path.join(target, 'code-server.log'));
  const logs = path.join(server.dirs.userData, 'logs');
  if (existsSync(logs)) cpSync(logs, path.join(target, 'vscode'), { recursive: true });
}

function printExtensionLog(server) {
  const log = extensionLog(server).trim().split('\n').slice(-15);
  if (log.length > 1) console.log(`     ModelFuse log (last lines):\n${log.map((line) => `       ${line}`).join('\n')}`);
}

function failAll(scenarios, error) {
  return scenarios.map((scenario) => ({ scenario, passed: false, error, ms: 0, screenshot: '(none)' }));
}

async function main() {
  const filters = process.argv.slice(2);
  const scenarios = await loadScenarios(filters);
  if (scenarios.length === 0) throw new Error(`no scenario matches ${filters.join(' ')}`);
  const timings = {};
  const results = [];
  const blockedRequests = [];
  let browser;
  let server;
  let baseDir;
  const disarm = armWatchdog(RUN_LIMIT_MS);
  try {
    let started = Date.now();
    ensureE2eDependencies();
    timings.dependencies = Date.now() - started;

    let vsixPath;
    try {
      started = Date.now();
      vsixPath = packageExtension().vsixPath;
      timings.package = Date.now() - started;
      console.log(`e2e: testing ${path.relative(REPO, vsixPath)} (${(statSync(vsixPath).size / 1e6).toFixed(1)} MB)`);
    } catch (error) {
      results.push(...failAll(scenarios, error));
      return results;
    }

    baseDir = mkdtempSync(path.join(os.tmpdir(), 'modelfuse-e2e-'));
    const tempDir = baseDir;
    // Also when a signal or the watchdog ends the run (the finally below does not run then).
    process.on('exit', () => rmSync(tempDir, { recursive: true, force: true }));
    const workspaces = { trusted: makeTrustedWorkspace(baseDir), untrusted: makeUntrustedWorkspace(baseDir) };
    rmSync(RESULTS, { recursive: true, force: true });
    mkdirSync(RESULTS, { recursive: true });

    started = Date.now();
    browser = await launchBrowser();
    timings.browser = Date.now() - started;

    // Scenarios that need the same kind of server run together; one server at a time (2 cores).
    for (const [kind, { workspaceTrust, workspace: workspaceKind, settings }] of Object.entries(SERVER_KINDS)) {
      const group = scenarios.filter((scenario) => scenario.server === kind);
      if (group.length === 0) continue;
      try {
        started = Date.now();
        server = await startCodeServer({ name: kind, baseDir, vsixPath, workspaceTrust, settings });
        timings[`${kind} server`] = Date.now() - started;
      } catch (error) {
        results.push(...failAll(group, error));
        continue;
      }
      const workspace = workspaces[workspaceKind];
      const makeContext = (page) => ({
        server,
        workspace,
        // A first start keeps what the workbench opens by itself (the walkthrough); the others start clean.
        openWorkspace: () => openWorkbench(page, folderUrl(server, workspace.root), { closeEditors: kind !== 'first-start' }),
        extensionLog: () => extensionLog(server),
      });
      for (const scenario of group) {
        const run = () => runScenario(scenario, { browser, resultsDir: RESULTS, blockedRequests, makeContext });
        let result = await run();
        if (!result.passed) {
          // A real workbench on a shared 2-core machine sometimes loses an input event; a scenario
          // that fails gets one more try in a fresh browser context, and the first failure is
          // printed in full either way, so a flaky step stays visible instead of hidden.
          printResult(result, { firstTry: true });
          printExtensionLog(server);
          if (existsSync(result.screenshot)) renameSync(result.screenshot, result.screenshot.replace(/\.png$/, '-first-try.png'));
          result = { ...(await run()), firstError: result.error };
        }
        printResult(result);
        if (!result.passed) printExtensionLog(server);
        results.push(result);
      }
      keepServerLogs(server);
      await stopCodeServer(server);
      server = undefined;
    }
  } finally {
    await browser?.close().catch(() => {});
    await stopCodeServer(server);
    if (baseDir) rmSync(baseDir, { recursive: true, force: true });
    disarm();
    const shown = Object.entries(timings).map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`);
    if (shown.length) console.log(`e2e: timings: ${shown.join(', ')}`);
    if (blockedRequests.length) console.log(`e2e: blocked ${blockedRequests.length} non-loopback request(s): ${[...new Set(blockedRequests)].slice(0, 5).join(' ')}`);
  }
  return results;
}

const runStarted = Date.now();
let results;
try {
  results = await main();
} catch (error) {
  console.error(`e2e: setup failed: ${error.stack ?? error}`);
  console.log('e2e: 0 passed, 1 failed');
  process.exit(1);
}
for (const result of results.filter((r) => r.ms === 0)) printResult(result);
const passed = results.filter((result) => result.passed).length;
const failed = results.length - passed;
console.log(`e2e: total ${((Date.now() - runStarted) / 1000).toFixed(0)} s; screenshots in ${path.relative(REPO, RESULTS)}/`);
const onSecondTry = results.filter((result) => result.passed && result.firstError).length;
console.log(`e2e: ${passed} passed${onSecondTry ? ` (${onSecondTry} only on a second try)` : ''}, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
