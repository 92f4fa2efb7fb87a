// An HTML error page saved as download.onnx (a failed download) opens in ModelFuse's editor as one
// clear error that offers "Open as Text" and "Reopen With…"; "Open as Text" shows the bytes in VS
// Code's text editor — where the user sees it is a 404 page — and the file is left unchanged.
import { readFileSync } from 'node:fs';
import { webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { activeTabTitle, editorText, findWebview, revealInExplorer, UI_TIMEOUT, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 17,
  name: 'a corrupt model reopened with the text editor',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    const before = readFileSync(workspace.htmlModel);
    await (await revealInExplorer(page, 'broken/download.onnx')).click();
    const error = await findWebview(page, 'the error page of download.onnx', async (frame) => /Cannot open download\.onnx/.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    const text = await waitFor('the error page with its buttons', async () => {
      const t = (await webviewTextNow(error)).replace(/\s+/g, ' ');
      return /Try again/.test(t) && t;
    });
    check(/Reopen With…/.test(text) && /Open as Text/.test(text), `the error page offers no other editor: ${text}`);
    check(!/at \w+ \(|\.ts:\d+|\.js:\d+|Internal error/.test(text), `the error is a stack trace or internal error: ${text}`);
    await screenshotOf('error-page');

    await error.locator('vscode-button', { hasText: 'Open as Text' }).click({ timeout: UI_TIMEOUT });
    await waitFor('the text editor with the file', async () => {
      const editor = page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
      return (await editor.isVisible()) && /Not Found/.test(await editorText(page));
    }, { timeoutMs: UI_TIMEOUT });
    check((await activeTabTitle(page)).includes('download.onnx'), `the text editor tab is not download.onnx: ${await activeTabTitle(page)}`);
    const shown = await editorText(page);
    check(/<!DOCTYPE html>/.test(shown), `the text editor does not show the file's text: ${shown.slice(0, 200)}`);
    await screenshotOf('as-text');
    check(readFileSync(workspace.htmlModel).equals(before), 'the file was modified');
  },
};
