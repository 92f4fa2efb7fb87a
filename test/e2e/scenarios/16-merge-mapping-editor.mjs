// A base saved under other names (blocks.N.attention.query …) matches no adapter key: the merge opens
// the key-mapping editor, a table of adapter module → base tensor offering only tensors of fitting
// shape with the most similar name first. The user picks the tensors, "Save mapping and merge" writes
// renamed_base.lora-map.json (the CLI's --map format) and the merge goes on: the result equals PEFT's
// merge_and_unload() tensors under the other names.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openModelFromExplorer, waitForFile, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { checkMergedLikePeft, quickPickRows } from '../lib/loraChecks.mjs';
import { renamedTensor } from '../lib/workspace.mjs';
import { acceptInputBox, contextMenu, findWebview, revealInExplorer, UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

const MODULES = ['layers.0.attn.q_proj', 'layers.0.attn.v_proj', 'layers.1.attn.q_proj', 'layers.1.attn.v_proj'];

export default {
  id: 16,
  name: 'Merge LoRA: unmatched keys fixed in the mapping editor',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    // The user looks at the checkpoint first (it lists blocks.N.attention.*), then merges the adapter beside it.
    await openModelFromExplorer(page, 'renamed/renamed_base.safetensors', /blocks\.0\.attention\.query\.weight/);
    const adapter = await revealInExplorer(page, 'renamed/renamed_adapter');
    await contextMenu(page, adapter, /Merge LoRA Adapter/i);

    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'beside the adapter' }).first().waitFor({ timeout: WORK_TIMEOUT });
    const bases = await quickPickRows(page);
    check(/renamed_base\.safetensors/.test(bases[0].text), `the base beside the adapter is not first: ${bases[0]?.text}`);
    await page.locator('.quick-input-widget .monaco-list-row').first().click();
    await acceptInputBox(page, 'weight of');

    // No module matches by name: the mapping editor opens instead of a merge that would do nothing.
    const editor = await findWebview(page, 'the LoRA key-mapping editor', async (frame) => /LoRA key mapping/.test(await webviewTextNow(frame)) && /not matched/.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    const text = await webviewText(editor);
    check(/4 adapter modules did not match/.test(text), `the editor does not say that 4 modules are unmatched:\n${text}`);
    for (const m of MODULES) check(text.includes(m), `the editor does not list ${m}`);
    check((text.match(/8 tensors of this shape/g) ?? []).length === 4, 'each module should be offered the 8 base tensors of shape 32 × 32');
    await screenshotOf('unmatched');

    for (const m of MODULES) {
      const target = renamedTensor(`${m}.weight`);
      const select = editor.locator(`vscode-single-select[data-module="${m}"]`);
      await select.locator('button.combobox-button').click({ timeout: UI_TIMEOUT });
      const options = select.locator('li.option');
      await options.first().waitFor({ timeout: UI_TIMEOUT });
      // The best name match is offered first (after "leave out").
      const second = (await options.nth(1).innerText()).trim();
      check(second === target, `${m}: the first candidate is ${second}, expected ${target}`);
      await select.locator('li.option', { hasText: target }).first().click();
      await waitFor(`${m} to show ${target}`, async () => (await select.evaluate((el) => el.value)) === target);
    }
    await waitFor('the counter to say 4 of 4', async () => /4 of 4 modules paired/.test(await webviewTextNow(editor)));
    await screenshotOf('mapping-editor');
    await editor.locator('vscode-button', { hasText: 'Save mapping and merge' }).click();

    const toast = await waitForNotification(page, /Merged 4 adapter modules into renamed_base\.safetensors → renamed_base\.merged\.safetensors/, WORK_TIMEOUT);
    check(await toast.isVisible(), 'no merge result');
    const mapFile = path.join(path.dirname(workspace.renamedBase), 'renamed_base.lora-map.json');
    await waitForFile(mapFile);
    const saved = JSON.parse(readFileSync(mapFile, 'utf8'));
    check(JSON.stringify(saved) === JSON.stringify(Object.fromEntries(MODULES.map((m) => [m, renamedTensor(`${m}.weight`)]))), `the saved mapping is ${JSON.stringify(saved)}`);
    const merged = path.join(path.dirname(workspace.renamedBase), 'renamed_base.merged.safetensors');
    await waitForFile(merged);
    const changed = checkMergedLikePeft(merged, renamedTensor);
    console.log(`     (renamed_base.merged.safetensors equals PEFT's merge_and_unload() under the other names; ${changed} tensors changed)`);
    check(changed === 4, `PEFT changed 4 tensors, the check saw ${changed}`);
  },
};
