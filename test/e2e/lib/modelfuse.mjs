// ModelFuse-specific steps shared by the scenarios: opening a model in its custom editor, the
// ModelFuse side bar, and looking at the server's processes for the ONNX Runtime worker.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from './poll.mjs';
import { acceptInputBox, activeTabTitle, clickActivity, findWebview, revealInExplorer, UI_TIMEOUT, WORK_TIMEOUT } from './workbench.mjs';

/** Visible text of a webview's document (light DOM; vscode-elements slot their text there). */
export async function webviewText(frame, timeoutMs = UI_TIMEOUT) {
  return (await frame.locator('body').innerText({ timeout: timeoutMs })).replace(/[ \t]+/g, ' ');
}

/** For polling: the text now, or '' when the document is not there (no 30 s wait per poll). */
export function webviewTextNow(frame) {
  return webviewText(frame, 1_000).catch(() => '');
}

/**
 * Clicks `relativePath` in the Explorer and returns the custom editor's webview once its text
 * matches `ready` (the overview is computed in the worker, so it arrives after a progress state).
 */
export async function openModelFromExplorer(page, relativePath, ready = /fusible/i, timeoutMs = WORK_TIMEOUT) {
  const row = await revealInExplorer(page, relativePath);
  await row.click();
  const name = relativePath.split('/').at(-1);
  await waitFor(`an editor tab for ${name}`, async () => (await activeTabTitle(page)).includes(name));
  return findWebview(page, `the ModelFuse editor of ${name} to show ${ready}`, async (frame) => ready.test(await webviewTextNow(frame)), timeoutMs);
}

/** Opens the ModelFuse activity-bar container. */
export async function showModelFuseSideBar(page) {
  await clickActivity(page, /^ModelFuse/);
}

/** The body of a side-bar view (pane) by its title, e.g. "Fusible Sequences". */
export function viewPane(page, title) {
  return page.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: title }) }).first();
}

/** Expands a collapsed side-bar view (pane) by its title. */
export async function expandPane(page, title) {
  const header = page.locator('.pane-header', { hasText: title }).first();
  await header.waitFor({ timeout: UI_TIMEOUT });
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
}

/** Tree rows of a view (only the rendered ones; our trees are small). */
export function viewRows(page, title) {
  return viewPane(page, title).locator('.monaco-list-row');
}

/**
 * ModelFuse ONNX Runtime worker processes (dist/worker.js of the installed extension) that run
 * under this code-server: "nothing executes" in an untrusted workspace is checked against this.
 */
export function workerProcesses(server) {
  const lines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(server.dirs.extensions) && /dist\/worker\.js/.test(line));
}

/**
 * Worker processes that have loaded ONNX Runtime's native library. The worker also parses models
 * (so it may run for viewing), but it loads onnxruntime-node only to execute one; the process's
 * memory map shows whether it did.
 */
export function workersWithOnnxRuntime(server) {
  return workerProcesses(server).filter((line) => {
    const pid = line.trim().split(/\s+/)[0];
    try {
      return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('onnxruntime_binding.node');
    } catch {
      return false; // exited meanwhile
    }
  });
}

/** Waits until `file` exists on disk (written atomically by the extension). */
export async function waitForFile(file, timeoutMs = WORK_TIMEOUT) {
  await waitFor(`${file} to be written`, () => existsSync(file), { timeoutMs });
}

/** The merge's weight prompt for an adapter: it must offer 1 (as trained), which is accepted. */
export async function acceptAdapterWeightOne(page) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitFor('the adapter weight prompt', async () => /weight of/i.test(await page.locator('.quick-input-widget').innerText()));
  // The box shows its title a moment before its value.
  await waitFor('the weight prompt to default to 1', async () => (await input.inputValue()) === '1', { timeoutMs: UI_TIMEOUT });
  await acceptInputBox(page, 'weight of');
}
