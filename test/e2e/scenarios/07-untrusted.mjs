// In an untrusted (Restricted Mode) workspace ModelFuse shows models but executes nothing: no
// ONNX Runtime worker starts and no file is written, whatever the user tries. The fuse and merge
// commands stay in the palette and, invoked, explain why they are off (with "Manage Workspace
// Trust"); the overview says what still edits files.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { openModelFromExplorer, webviewText, workersWithOnnxRuntime } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { recordedNotifications, recordNotifications, typeInPalette, UI_TIMEOUT, waitForNotification } from '../lib/workbench.mjs';

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true }).sort();
}

export default {
  id: 7,
  name: 'untrusted workspace: models are shown, nothing executes',
  server: 'untrusted',
  async run({ page, openWorkspace, workspace, server, screenshotOf }) {
    const before = filesUnder(workspace.root);
    await openWorkspace();
    await page.locator('.statusbar', { hasText: /Restricted Mode/i }).waitFor({ timeout: UI_TIMEOUT });

    // Viewing works (parsing happens without ONNX Runtime).
    const editor = await openModelFromExplorer(page, 'resnet/resstyle.onnx');
    const text = await webviewText(editor);
    check(text.includes('blocks.0.conv2'), 'the overview shows no sequences in an untrusted workspace');
    // The editor says why fusing is unavailable and what still edits files, and its fuse buttons are disabled.
    check(/Restricted Mode: ModelFuse shows this model but does not run ONNX Runtime/.test(text), `the editor does not say why fusing is off:\n${text.slice(0, 800)}`);
    check(/Insert fuse_model\(\)/.test(text), `the editor does not say what still edits files:\n${text.slice(0, 800)}`);
    const fuseAll = editor.locator('vscode-button', { hasText: /Fuse all safe/ });
    check((await fuseAll.getAttribute('disabled')) !== null, '"Fuse all safe" is enabled in an untrusted workspace');
    await screenshotOf('overview');
    await fuseAll.click({ force: true }); // a determined click on the disabled button must do nothing

    // Try to fuse the way a user would: the palette. The command must be unavailable or refuse.
    await recordNotifications(page);
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ timeout: UI_TIMEOUT });
    await input.fill('>ModelFuse: Fuse All Safe Sequences');
    const entry = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Fuse All Safe Sequences' }).first();
    const offered = await waitFor('the palette to show its matches', async () => {
      if (await entry.isVisible()) return 'offered';
      const listed = await page.locator('.quick-input-widget .monaco-list-row').count();
      return (listed > 0 || (await page.locator('.quick-input-widget', { hasText: /No matching/i }).isVisible())) && 'not offered';
    }) === 'offered';
    const listed = (await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts()).map((row) => row.split('\n')[0]);
    console.log(`     (Restricted Mode: for "${await input.inputValue()}" the palette lists ${JSON.stringify(listed.slice(0, 4))})`);
    if (offered) await entry.click();
    else await page.keyboard.press('Escape');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: UI_TIMEOUT }).catch(() => undefined);

    // Merge LoRA Adapter… is in the palette too, and says why it is off instead of vanishing.
    const merge = await typeInPalette(page, '>ModelFuse: Merge LoRA Adapter', 'Merge LoRA Adapter');
    await merge.click();
    const explained = await waitForNotification(page, /Merge LoRA adapter is disabled in Restricted Mode/);
    check(await explained.locator('.monaco-button', { hasText: 'Manage Workspace Trust' }).isVisible(), 'the explanation offers no way to trust the workspace');
    await screenshotOf('merge-explains');

    // Sync point: the extension host handles requests in order, so once another model's overview
    // has rendered, a fuse started by the attempt above would have started its worker by now.
    const second = await openModelFromExplorer(page, 'lora/base.onnx', /Parameters/);
    const reasons = [text, await webviewText(second), ...(await recordedNotifications(page)).map((toast) => toast.text)];
    check(offered, 'Fuse All Safe Sequences is not in the palette in Restricted Mode (it must explain, not vanish)');
    check(
      reasons.some((shown) => /disabled in Restricted Mode/.test(shown)),
      `the fuse command ran in an untrusted workspace without saying why it is refused (saw: ${JSON.stringify(await recordedNotifications(page))})`,
    );

    // Nothing executed: no process loaded ONNX Runtime, no new file anywhere in the workspace.
    const running = workersWithOnnxRuntime(server);
    check(running.length === 0, `ONNX Runtime was loaded in an untrusted workspace: ${running.join('; ')}`);
    const after = filesUnder(workspace.root);
    check(JSON.stringify(after) === JSON.stringify(before), `files were written in an untrusted workspace: ${after.filter((f) => !before.includes(f)).join(', ')}`);
    check(!existsSync(path.join(path.dirname(workspace.model), 'resstyle.fused.onnx')), 'a fused model was written');
  },
};
