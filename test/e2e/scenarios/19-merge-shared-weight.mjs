// "Merge LoRA Adapter…" into a base whose adapted weight another node reads too (tied weights, or
// identical tensors an exporter stored once): the merge asks what merging into it means. The user
// chooses "Give each its own merged copy": the merged model's /l1/Gemm reads a new merged tensor,
// /other/Gemm still reads the base weight — run here in ONNX Runtime, its output z is the base's
// and y is not.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { acceptAdapterWeightOne, openModelFromExplorer, waitForFile } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { compare, runModel } from '../lib/reference.mjs';
import { E2E_DIR } from '../lib/deps.mjs';
import { contextMenu, pickQuickItem, revealInExplorer, UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

const onnx = createRequire(path.join(E2E_DIR, '..', '..', 'package.json'))('./extension/engine/onnx/generated/onnx.js').onnx;

export default {
  id: 19,
  name: 'Merge LoRA into a shared base weight: the user chooses an own copy',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'tied/tied_base.onnx', /Parameters/);
    await contextMenu(page, await revealInExplorer(page, 'tied/tied_adapter'), /Merge LoRA Adapter/i);
    await pickQuickItem(page, /tied_base\.onnx/);
    await acceptAdapterWeightOne(page);

    await waitFor('the shared-weight question', async () => /'l1' changes a base tensor other nodes read too/.test(await page.locator('.quick-input-widget').innerText()), { timeoutMs: WORK_TIMEOUT });
    const choices = (await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts()).join('\n');
    check(/Give each its own merged copy/.test(choices) && /every reader changes/.test(choices) && /key mapping/.test(choices), `the three choices are not offered:\n${choices}`);
    await screenshotOf('shared-weight-question');
    await pickQuickItem(page, /Give each its own merged copy/);

    const confirm = page.locator('.quick-input-widget .monaco-list-row', { hasText: /Merge 1 module → tied_base\.merged\.onnx/ }).first();
    await confirm.waitFor({ timeout: WORK_TIMEOUT });
    const mapping = (await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts()).join('\n');
    check(/own copy/.test(mapping), `the key mapping does not say /l1/Gemm gets its own copy:\n${mapping}`);
    await confirm.click({ timeout: UI_TIMEOUT });
    await waitForNotification(page, /Merged 1 adapter module into tied_base\.onnx → tied_base\.merged\.onnx/, WORK_TIMEOUT);

    const merged = path.join(path.dirname(workspace.tiedBase), 'tied_base.merged.onnx');
    await waitForFile(merged);
    const graph = onnx.ModelProto.decode(readFileSync(merged)).graph;
    const weightOf = (node) => graph.node.find((n) => n.name === node).input[1];
    check(weightOf('/other/Gemm') === 'onnx::Gemm_1', `/other/Gemm no longer reads the base weight: ${weightOf('/other/Gemm')}`);
    check(weightOf('/l1/Gemm') !== 'onnx::Gemm_1', '/l1/Gemm still reads the shared weight');
    // Run here, independently of the extension: z (the other reader) is the base's, y is not.
    const x = { dtype: 'F32', shape: [2, 4], data: Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1)) };
    const before = await runModel(workspace.tiedBase, { x });
    const after = await runModel(merged, { x });
    check(compare(after.z, before.z, { atol: 0, rtol: 0 }).ok, 'the other reader of the shared weight changed');
    check(!compare(after.y, before.y).ok, 'the adapted module did not change');
  },
};
