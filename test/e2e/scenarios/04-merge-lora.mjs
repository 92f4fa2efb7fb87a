// "Merge LoRA Adapter…" from the Explorer's context menu on a PEFT adapter folder: the base is the
// open model, the weight 1, the key mapping is confirmed, then the merge runs with progress, the
// merged model is written beside the base and compared with it in ONNX Runtime.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { acceptAdapterWeightOne, openModelFromExplorer, waitForFile } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { compare, FIXTURES, readSafetensors, runModel } from '../lib/reference.mjs';
import {
  contextMenu,
  pickQuickItem,
  recordedNotifications,
  recordNotifications,
  revealInExplorer,
  UI_TIMEOUT,
  waitForNotification,
  WORK_TIMEOUT,
} from '../lib/workbench.mjs';

export default {
  id: 4,
  name: 'Merge LoRA Adapter into the LoRA base',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'lora/base.onnx', /Parameters/);
    const adapters = await revealInExplorer(page, 'lora/adapters');
    await recordNotifications(page);
    await contextMenu(page, adapters, /Merge LoRA Adapter/i);

    // Base: the open model is offered first.
    await pickQuickItem(page, /base\.onnx/);
    // Weight of the adapter: 1, as trained.
    await acceptAdapterWeightOne(page);
    // The key mapping: PEFT targeted q_proj and v_proj (r=4, alpha=8).
    const confirm = page.locator('.quick-input-widget .monaco-list-row', { hasText: /Merge \d+ modules? → base\.merged\.onnx/ }).first();
    await confirm.waitFor({ timeout: WORK_TIMEOUT });
    const mapping = (await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts()).join('\n');
    check(/q_proj/.test(mapping) && /v_proj/.test(mapping), `the key mapping does not show q_proj and v_proj:\n${mapping}`);
    await screenshotOf('key-mapping');
    await confirm.click({ timeout: UI_TIMEOUT });

    const merged = path.join(path.dirname(workspace.loraBase), 'base.merged.onnx');
    const toast = await waitForNotification(page, /Merged \d+ adapter modules? into base\.onnx → base\.merged\.onnx/, WORK_TIMEOUT);
    const summary = (await toast.innerText()).replace(/\s+/g, ' ');
    check(/Outputs vs\. the base in ONNX Runtime: .*max \|Δ\| \d/.test(summary), `the merge was not compared with the base in ONNX Runtime: ${summary}`);
    const seen = await recordedNotifications(page);
    check(seen.some((entry) => entry.progress), `no progress notification was shown (saw: ${JSON.stringify(seen)})`);

    await waitForFile(merged);
    await revealInExplorer(page, 'lora/base.merged.onnx');
    check(!readFileSync(merged).equals(readFileSync(workspace.loraBase)), 'the merged model is identical to the base');
    // Independently of the extension: the merged file, run here in ONNX Runtime, gives what PEFT's
    // merge_and_unload() model gave in PyTorch, and not what the base gave.
    const io = readSafetensors(path.join(FIXTURES, 'lora_linear_qv', 'io.safetensors'));
    const { y } = await runModel(merged, { ids: io['input.ids'] });
    const match = compare(y, io['merged_output.y'].data);
    console.log(`     (merged model vs PEFT merged_output.y, run here in ONNX Runtime: max |Δ| ${match.maxAbs.toExponential(2)})`);
    check(match.ok, `the merged model's output differs from PEFT's merged model: max |Δ| ${match.maxAbs}`);
    check(!compare(y, io['base_output.y'].data).ok, 'the merged model still computes the base output');
  },
};
