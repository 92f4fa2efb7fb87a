// Debian's Chromium driven by playwright-core. Only loopback traffic is allowed: any request to
// another host is aborted and recorded, so a scenario can never reach the internet unnoticed.
import { createRequire } from 'node:module';
import path from 'node:path';
import { E2E_DIR } from './deps.mjs';

const CHROMIUM = process.env.MODELFUSE_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox', // we run as root in CI
  '--disable-gpu',
  // Without these Chromium keeps trying to reach Google's services.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--metrics-recording-only',
];

// playwright-core lives in test/e2e/node_modules, installed at run time, not in the root package.
function loadPlaywright() {
  const require = createRequire(path.join(E2E_DIR, 'package.json'));
  return require('playwright-core');
}

export async function launchBrowser() {
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 60_000 });
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A fresh context (no cookies, storage or cache from earlier scenarios) with a roomy viewport. */
export async function newIsolatedContext(browser, blockedRequests) {
  const context = await browser.newContext({
    viewport: { width: 1600, height: 1000 },
    deviceScaleFactor: 1,
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  await context.route(
    (url) => !LOOPBACK_HOSTS.has(url.hostname) && url.protocol !== 'data:' && url.protocol !== 'blob:',
    (route) => {
      blockedRequests.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  return context;
}
