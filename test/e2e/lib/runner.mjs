// Runs scenarios one after another, each in a fresh browser context (no client state carried
// over), with its own time limit, and always takes a screenshot, also when the scenario failed.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { newIsolatedContext } from './browser.mjs';

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function screenshotPath(resultsDir, scenario) {
  const slug = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  return path.join(resultsDir, `${String(scenario.id).padStart(2, '0')}-${slug}.png`);
}

/** Runs one scenario; returns { scenario, passed, error, ms, screenshot }. */
export async function runScenario(scenario, { browser, resultsDir, blockedRequests, makeContext }) {
  mkdirSync(resultsDir, { recursive: true });
  const started = Date.now();
  const screenshot = screenshotPath(resultsDir, scenario);
  const context = await newIsolatedContext(browser, blockedRequests);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  let error = null;
  try {
    // Scenarios may also capture intermediate states (a context menu, an error) for the README.
    const screenshotOf = (label) => page.screenshot({ path: screenshot.replace(/\.png$/, `-${label}.png`), timeout: 15_000 });
    await withTimeout(scenario.run({ page, screenshotOf, ...makeContext(page) }), scenario.timeoutMs ?? 240_000, `scenario ${scenario.id}`);
  } catch (caught) {
    error = caught;
  }
  try {
    await page.screenshot({ path: screenshot, timeout: 15_000 });
  } catch (caught) {
    console.error(`  (screenshot failed: ${caught.message.split('\n')[0]})`);
  }
  await context.close().catch(() => {});
  return { scenario, passed: !error, error, ms: Date.now() - started, screenshot, consoleErrors };
}

/** One line per try; `firstTry` marks a failure that is tried again, `firstError` a pass on the second try. */
export function printResult(result, { firstTry = false } = {}) {
  const seconds = (result.ms / 1000).toFixed(1);
  const mark = firstTry ? 'FAIL (first try; trying once more)' : result.passed ? 'PASS' : 'FAIL';
  const note = result.passed && result.firstError ? ' [second try: the first failed, see above]' : '';
  console.log(`${mark} ${result.scenario.id}. ${result.scenario.name} (${seconds} s)${note} → ${result.screenshot}`);
  if (!result.passed) {
    const message = result.error?.stack ?? String(result.error);
    console.log(message.split('\n').slice(0, 12).map((line) => `     ${line}`).join('\n'));
  }
}
