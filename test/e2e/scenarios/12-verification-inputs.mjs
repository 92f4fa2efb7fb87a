// Choosing verification inputs from the UI: "ModelFuse: Verification Inputs…" sets the shapes of a
// model to 1×3×1×1, and the fuse's check is reported as a weak check with the reason (3×3 kernels see
// a 1-pixel input); in the diff panel "Re-verify with…" picks a .npy inputs file, and the panel shows
// the new verdict with the file's shape. The choice is saved in the workspace settings.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openModelFromExplorer, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { chooseInFileDialog, clickNotificationAction, findWebview, pickQuickItem, runCommand, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 12,
  name: 'verification inputs chosen in the UI: a weak check, then an inputs file',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'dynamic/det_dynamic.onnx');
    const input = page.locator('.quick-input-widget .quick-input-box input');

    await runCommand(page, 'ModelFuse: Verification Inputs…');
    await pickQuickItem(page, /Shapes…/);
    await waitFor('the shapes prompt', async () => /Input shapes of det_dynamic\.onnx/.test(await page.locator('.quick-input-widget').innerText()));
    check((await input.inputValue()) === 'x=1x3x224x224', `the shapes prompt does not start from the model's sizes (${await input.inputValue()})`);
    await input.fill('x=1x3x1x1');
    await input.press('Enter');
    await waitForNotification(page, /will be verified with shapes x=1x3x1x1, seed 0/);

    await runCommand(page, 'ModelFuse: Fuse All Safe Sequences');
    const toast = await waitForNotification(page, /Weak check/i, WORK_TIMEOUT);
    const summary = (await toast.innerText()).replace(/\s+/g, ' ');
    check(/Weak check \(not verified\)/.test(summary) && !/Verified in ONNX Runtime/.test(summary), `a degenerate check was not reported as weak: ${summary}`);
    check(/Conv 'conv1' gets a 1×1 input under a 3×3 window/.test(summary), `the weak check does not say why: ${summary}`);
    check(/x float32\[1, 3, 1, 1\]/.test(summary), `the notification does not name the shapes: ${summary}`);
    await screenshotOf('weak-check');
    await clickNotificationAction(toast, /Show diff/i);

    const panel = await findWebview(page, 'the diff panel with a weak check', async (frame) => /WEAK CHECK/.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    check(/this proves little: Conv 'conv1' gets a 1×1 input/.test(await webviewText(panel)), 'the panel does not say why the check is weak');
    await screenshotOf('weak-panel');

    // Re-verify with an inputs file, chosen in the (simple) file dialog.
    await panel.locator('vscode-button', { hasText: /Re-verify with/ }).click();
    await pickQuickItem(page, /Inputs File…/);
    await chooseInFileDialog(page, workspace.dynamicInput, /det_dynamic|dynamic/);
    await waitFor('the panel to verify with det_input.npy', async () => {
      const t = await webviewTextNow(panel);
      return /Verification\s*PASSED/.test(t) && /x float32\[1, 3, 64, 48\] \(from dynamic\/det_input\.npy\)/.test(t);
    }, { timeoutMs: WORK_TIMEOUT });
    await screenshotOf('inputs-file');

    const settings = path.join(workspace.root, '.vscode', 'settings.json');
    check(existsSync(settings), 'the choice was not saved in the workspace settings');
    const saved = JSON.parse(readFileSync(settings, 'utf8'))['modelfuse.verify.models'];
    check(saved?.['dynamic/det_dynamic.onnx']?.inputs === 'det_input.npy', `unexpected saved choice: ${JSON.stringify(saved)}`);
  },
};
