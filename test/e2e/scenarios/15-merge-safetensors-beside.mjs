// "Merge LoRA Adapter…" from the palette with a safetensors checkpoint open: the adapter beside it
// is pre-checked (unchecking it and pressing Enter says that nothing was chosen, and offers to choose
// again); the base picker offers the safetensors base beside the adapter first and lists the files it
// skipped (a truncated .onnx, an HTML page saved as .onnx) with the reason; the merge writes
// base.merged.safetensors equal to PEFT's merge_and_unload() tensors, and no progress toast is left.
// "Delete Fused Results…" then offers that result alone and deletes it after a confirmation.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { openModelFromExplorer, waitForFile } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { checkMergedLikePeft, progressToastsNow, quickPickRows } from '../lib/loraChecks.mjs';
import { acceptInputBox, clickNotificationAction, recordNotifications, typeInPalette, UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 15,
  name: 'Merge LoRA: safetensors base picked beside its adapter',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    // A second try starts as the first did: without the result an earlier try may have written.
    for (const name of readdirSync(path.dirname(workspace.peftBase))) {
      if (/^base\.merged.*\.safetensors$/.test(name)) rmSync(path.join(path.dirname(workspace.peftBase), name));
    }
    await openWorkspace();
    await openModelFromExplorer(page, 'peft/base.safetensors', /embed\.weight/);
    await recordNotifications(page);
    await (await typeInPalette(page, '>ModelFuse: Merge LoRA Adapter', /Merge LoRA Adapter/)).click();

    // Adapters: found in the workspace; the one beside the open checkpoint is pre-checked.
    const adapterRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'qv_adapter' }).first();
    await adapterRow.waitFor({ timeout: WORK_TIMEOUT });
    await waitFor('the adapter beside the base to be pre-checked', async () => (await quickPickRows(page)).some((r) => /qv_adapter/.test(r.text) && r.checked));
    const rows = await quickPickRows(page);
    check(rows.filter((r) => r.checked).length === 1, `only the adapter beside the base should be pre-checked: ${JSON.stringify(rows)}`);
    await screenshotOf('adapter-prechecked');

    // Unchecked and Enter: said, not a silent cancel; "Choose again" brings the picker back.
    await adapterRow.locator('.monaco-checkbox, input[type=checkbox], .quick-input-list-checkbox').first().click();
    await waitFor('the adapter to be unchecked', async () => !(await quickPickRows(page)).some((r) => r.checked));
    // Enter in the filter box accepts (on the focused check box it would toggle it again).
    await page.locator('.quick-input-widget .quick-input-box input').press('Enter');
    const nothing = await waitForNotification(page, /no adapter was checked, so nothing was merged/i);
    await clickNotificationAction(nothing, /Choose again/);
    await adapterRow.waitFor({ timeout: WORK_TIMEOUT });
    await waitFor('the adapter to be pre-checked again', async () => (await quickPickRows(page)).some((r) => /qv_adapter/.test(r.text) && r.checked));
    await page.locator('.quick-input-widget .quick-input-box input').press('Enter');

    // Base: the safetensors checkpoint beside the adapter comes first; broken files are listed as skipped.
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'beside the adapter' }).first().waitFor({ timeout: WORK_TIMEOUT });
    const bases = await quickPickRows(page);
    console.log(`     (base picker: ${bases.map((r) => r.text).join(' | ')})`);
    check(/base\.safetensors/.test(bases[0].text) && /beside the adapter/.test(bases[0].text), `the first base is not the safetensors beside the adapter: ${bases[0]?.text}`);
    check(bases.some((r) => /\.onnx/.test(r.text) && /ONNX/.test(r.text)), 'ONNX bases elsewhere in the workspace are offered too');
    check(!bases.some((r) => /adapter_model\.safetensors/.test(r.text)), 'an adapter file is offered as a base');
    await screenshotOf('base-picker');
    // The skipped files come last: the workspace has more models than the list shows at once, so filter for them.
    const filter = page.locator('.quick-input-widget .quick-input-box input');
    for (const [file, why] of [['download.onnx', 'the HTML page saved as .onnx'], ['corrupt.onnx', 'the truncated corrupt.onnx']]) {
      await filter.fill(file);
      await waitFor(`${why} listed as skipped`, async () => (await quickPickRows(page)).some((r) => r.text.includes(file) && /skipped/i.test(r.text)), { timeoutMs: UI_TIMEOUT });
    }
    await filter.fill('');
    await waitFor('the full list again', async () => /beside the adapter/.test((await quickPickRows(page))[0]?.text ?? ''), { timeoutMs: UI_TIMEOUT });
    await page.locator('.quick-input-widget .monaco-list-row').first().click();

    // Weight 1, then the key mapping: all four modules matched by name.
    await acceptInputBox(page, 'weight of');
    const confirm = page.locator('.quick-input-widget .monaco-list-row', { hasText: /Merge 4 modules → base\.merged\.safetensors/ }).first();
    await confirm.waitFor({ timeout: WORK_TIMEOUT });
    await confirm.click();

    const toast = await waitForNotification(page, /Merged 4 adapter modules into base\.safetensors → base\.merged\.safetensors/, WORK_TIMEOUT);
    const lingering = await progressToastsNow(page);
    check(lingering.length === 0, `a progress notification is still shown beside the result: ${lingering.join(' | ')}`);
    check(await toast.isVisible(), 'the result notification vanished');
    const merged = path.join(path.dirname(workspace.peftBase), 'base.merged.safetensors');
    await waitForFile(merged);
    const changed = checkMergedLikePeft(merged);
    console.log(`     (base.merged.safetensors equals PEFT's merge_and_unload() in every tensor; ${changed} changed by the adapter)`);
    check(changed === 4, `PEFT changed 4 tensors, the check saw ${changed}`);

    // "Delete Fused Results…" offers the result ModelFuse wrote (and nothing it did not write) and deletes it.
    await (await typeInPalette(page, '>ModelFuse: Delete Fused Results', /Delete Fused Results/)).click();
    const resultRow = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'base.merged.safetensors' }).first();
    await resultRow.waitFor({ timeout: UI_TIMEOUT });
    const offered = await quickPickRows(page);
    check(offered.length === 1, `only the merged result should be offered: ${JSON.stringify(offered)}`);
    await resultRow.locator('.monaco-checkbox, input[type=checkbox], .quick-input-list-checkbox').first().click();
    await waitFor('the result to be checked', async () => (await quickPickRows(page)).some((r) => r.checked));
    await page.locator('.quick-input-widget .quick-input-box input').press('Enter');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: UI_TIMEOUT });
    check(/Delete 1 result written by ModelFuse/.test(await dialog.innerText()), `the confirmation: ${await dialog.innerText()}`);
    await dialog.locator('.monaco-button', { hasText: /^Delete$/ }).click();
    await waitFor('base.merged.safetensors to be deleted', () => !existsSync(merged));
    check(existsSync(workspace.peftBase), 'the base was deleted');
  },
};
