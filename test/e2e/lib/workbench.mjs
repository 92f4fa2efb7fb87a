// What a user does in the VS Code workbench, expressed against its DOM: the Explorer, the command
// palette, context menus, notifications, editors and webviews. Every step waits on visible state.
import { waitFor } from './poll.mjs';

export const UI_TIMEOUT = 30_000;
/** Work that runs ONNX Runtime (worker start, fold, verification) on a 2-core machine. */
export const WORK_TIMEOUT = 120_000;

/** Loads the workbench for a folder and waits until the Explorer shows its files. */
export async function openWorkbench(page, url, { closeEditors = false } = {}) {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 90_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 90_000 });
  // Scenarios share a server and workspace; the editors the previous one left are restored, and a
  // custom editor restored while the extension host starts can come back as a text editor, which a
  // click in the Explorer then only focuses. Each scenario starts from no open editor.
  if (closeEditors) {
    await runCommand(page, 'View: Close All Editors');
    // A file a failed scenario left modified asks whether to save: it is not this scenario's to keep.
    const dontSave = page.locator('.monaco-dialog-box .monaco-button', { hasText: "Don't Save" });
    await waitFor('no editor open', async () => {
      if (await dontSave.isVisible()) await dontSave.click();
      return (await page.locator('.tabs-container .tab').count()) === 0;
    });
  }
}

/** The Explorer row of a file or folder, by its (unique in our workspaces) name. */
export function explorerRow(page, name) {
  return page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name}"]`);
}

/** Shows the Explorer and expands the folders of `relativePath`; returns the row of its last part. */
export async function revealInExplorer(page, relativePath) {
  await showExplorer(page);
  const parts = relativePath.split('/');
  for (const folder of parts.slice(0, -1)) {
    const row = explorerRow(page, folder);
    await row.waitFor({ timeout: UI_TIMEOUT });
    if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
    await waitFor(`folder ${folder} to expand`, async () => (await row.getAttribute('aria-expanded')) === 'true');
  }
  const row = explorerRow(page, parts.at(-1));
  await row.waitFor({ timeout: UI_TIMEOUT });
  return row;
}

export async function showExplorer(page) {
  const explorer = page.locator('.explorer-folders-view');
  if (!(await explorer.isVisible())) await clickActivity(page, /^Explorer/);
  await explorer.waitFor({ timeout: UI_TIMEOUT });
}

/** Clicks an activity-bar entry (Explorer, ModelFuse, …) by its accessible name. */
export async function clickActivity(page, name) {
  await page.locator('.activitybar').getByRole('tab', { name }).first().click({ timeout: UI_TIMEOUT });
}

/** Runs a command from the palette by its title as shown there ("ModelFuse: Fuse All Safe Sequences"). */
export async function runCommand(page, title) {
  const item = await typeInPalette(page, `>${title}`, title);
  await item.click();
}

/**
 * Opens the command palette (F1), types `text`, and returns the row showing `rowText`. Typing right
 * after the palette opens can be lost while the widget sets itself up, so the value is checked and
 * typed again; and the palette lists the commands known when it opened, so while extensions are
 * still being registered it is closed and opened again.
 */
export async function typeInPalette(page, text, rowText) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const item = page.locator('.quick-input-widget .monaco-list-row', { hasText: rowText }).first();
  const noMatch = page.locator('.quick-input-widget .monaco-list-row', { hasText: /^No matching/ });
  await waitFor(`"${rowText}" in the command palette`, async () => {
    if (!(await input.isVisible())) {
      await page.keyboard.press('F1');
      await input.waitFor({ timeout: UI_TIMEOUT });
    }
    // A short timeout: a palette still closing after the previous command swallows the fill; the loop retries.
    if ((await input.inputValue()) !== text) await input.fill(text, { timeout: 2000 }).catch(() => undefined);
    if (await item.isVisible()) return true;
    if (await noMatch.isVisible()) await page.keyboard.press('Escape');
    return false;
  });
  return item;
}

/** Picks an entry in the open quick pick / input box. */
export async function pickQuickItem(page, text) {
  const item = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
  await item.waitFor({ timeout: UI_TIMEOUT });
  await item.click();
}

/**
 * Right-clicks `target` and chooses `label` in the context menu. The menu ignores a click that comes
 * too soon after it opened (so the opening right-click cannot choose an entry), so the entry is
 * focused by hovering and chosen with Enter, which the menu always honours.
 */
export async function contextMenu(page, target, label, { whileOpen } = {}) {
  await target.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  const entry = menu.locator('.action-item', { hasText: label }).first();
  await entry.waitFor({ timeout: UI_TIMEOUT });
  await waitFor(`the context-menu entry ${label} to take focus`, async () => {
    await entry.hover();
    return /\bfocused\b/.test((await entry.getAttribute('class')) ?? '');
  });
  await whileOpen?.();
  await page.keyboard.press('Enter');
  await menu.waitFor({ state: 'hidden', timeout: UI_TIMEOUT });
}

/**
 * Records every notification toast that appears from now on (text and whether it shows a progress
 * bar), so a quick progress notification is not missed between two polls.
 */
export async function recordNotifications(page) {
  await page.evaluate(() => {
    const seen = (window.__modelfuseToasts = []);
    const snapshot = () => {
      for (const toast of document.querySelectorAll('.notifications-toasts .notification-toast')) {
        const text = toast.innerText.replace(/\s+/g, ' ').trim();
        const progress = !!toast.querySelector('.monaco-progress-container.active, .monaco-progress-container.infinite, .monaco-progress-container.discrete');
        if (text && !seen.some((entry) => entry.text === text && entry.progress === progress)) seen.push({ text, progress });
      }
    };
    new MutationObserver(snapshot).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    snapshot();
  });
}

export async function recordedNotifications(page) {
  return page.evaluate(() => window.__modelfuseToasts ?? []);
}

/** Waits for a notification toast whose text matches `pattern`; returns its locator. */
export async function waitForNotification(page, pattern, timeoutMs = UI_TIMEOUT) {
  const toast = page.locator('.notifications-toasts .notification-toast').filter({ hasText: pattern }).first();
  await toast.waitFor({ timeout: timeoutMs });
  return toast;
}

/** Texts of all visible notification toasts (for error messages). */
export async function visibleNotifications(page) {
  return page.locator('.notifications-toasts .notification-toast').allInnerTexts();
}

/** Clicks a button (action) of a notification toast. */
export async function clickNotificationAction(toast, label) {
  await toast.hover();
  await toast.locator('.monaco-button, a.monaco-button', { hasText: label }).first().click({ timeout: UI_TIMEOUT });
}

/** The active editor tab's label ("resstyle.onnx"; the tab renders name and extension apart). */
export async function activeTabTitle(page) {
  const tab = page.locator('.editor-group-container.active .tabs-container .tab.active').first();
  return (await tab.innerText({ timeout: UI_TIMEOUT })).replace(/\s+/g, '');
}

/**
 * Webviews in VS Code for the Web are two nested iframes: the outer `iframe.webview` host and the
 * inner `#active-frame` holding the extension's HTML. Returns the inner frame of the first webview
 * whose content satisfies `isIt(frameLocator)`.
 */
export async function findWebview(page, what, isIt, timeoutMs = UI_TIMEOUT) {
  return waitFor(
    what,
    async () => {
      const names = await page.locator('iframe.webview').evaluateAll((frames) => frames.map((frame) => frame.name));
      for (const name of names.reverse()) {
        const inner = page.frameLocator(`iframe.webview[name="${name}"]`).frameLocator('iframe#active-frame');
        // A webview still loading (or torn down) has no document yet: skip it without waiting.
        if ((await inner.locator('body').count()) === 0) continue;
        if (await isIt(inner)) return inner;
      }
      return false;
    },
    { timeoutMs },
  );
}

/** Text of the visible lines of the active text editor (Monaco renders spaces as U+00A0). */
export async function editorText(page) {
  const text = await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

/**
 * Saves the active editor and returns the file's text once it holds `expected` on disk. A save key
 * pressed while focus is still on a CodeLens link, or before the inserted edit reached the
 * document, is lost or saves the old text; so the save runs as the palette's "File: Save" and is
 * repeated until the disk shows the edit.
 */
export async function saveActiveEditorUntil(page, file, expected, readText) {
  return waitFor(`${expected} saved into ${file}`, async () => {
    const text = readText();
    if (text.includes(expected)) return text;
    await runCommand(page, 'File: Save');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = readText();
    return after.includes(expected) && after;
  }, { timeoutMs: UI_TIMEOUT * 2 });
}

/**
 * Accepts an open input box (the merge's weight prompt) with Enter, and again while it is still
 * shown: a step started from a webview button (the walkthrough) can hand the keyboard focus back
 * to that webview just after the box opened, and an Enter sent then reaches the webview instead.
 * `prompt` tells this box from the step that follows it.
 */
export async function acceptInputBox(page, prompt, timeoutMs = WORK_TIMEOUT) {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('.quick-input-box input');
  await waitFor(`the ${prompt} prompt`, async () => new RegExp(prompt, 'i').test(await widget.innerText()), { timeoutMs });
  await waitFor(`the ${prompt} prompt to be accepted`, async () => {
    if (!(await widget.isVisible()) || !new RegExp(prompt, 'i').test(await widget.innerText())) return true;
    await input.click({ timeout: 2000 }).catch(() => undefined);
    await input.press('Enter', { timeout: 2000 }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    return !(await widget.isVisible()) || !new RegExp(prompt, 'i').test(await widget.innerText());
  }, { timeoutMs: UI_TIMEOUT });
}

/**
 * Picks `file` in VS Code's simple file dialog (what showOpenDialog is in code-server): waits for
 * the dialog to open at a folder matching `startsIn`, types the path and presses Enter until it
 * closes (the first Enter can land while the dialog still lists the folder).
 */
export async function chooseInFileDialog(page, file, startsIn) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitFor('the file dialog', async () => (await input.isVisible()) && startsIn.test(await input.inputValue()));
  await input.fill(file);
  await waitFor(`the file dialog to accept ${file.split(/[\\/]/).at(-1)}`, async () => {
    if (!(await input.isVisible())) return true;
    await input.press('Enter');
    return !(await input.isVisible({ timeout: 1_000 }).catch(() => false));
  }, { timeoutMs: UI_TIMEOUT });
}
