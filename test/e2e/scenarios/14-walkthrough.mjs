// A first start after installing the .vsix: the "Get Started with ModelFuse" walkthrough opens by
// itself, and each of its five steps' buttons does what it says on the bundled samples — the
// sample model's overview, its fusible sequences, a fuse verified in ONNX Runtime, the sample
// LoRA adapter merged, CodeLens on the sample model.py. The written files are checked here, in
// ONNX Runtime, against PyTorch's and PEFT's outputs. No absolute path reaches the webview. After a
// reload the walkthrough does not open again.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { viewRows, webviewTextNow, waitForFile } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { compare, FIXTURES, readSafetensors, runModel } from '../lib/reference.mjs';
import { acceptInputBox, findWebview, runCommand, UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

const WALKTHROUGH_TITLE = 'Get Started with ModelFuse';

/** The walkthrough page's step (a button that expands), by its id in package.json. */
function step(page, id) {
  return page.locator(`button.getting-started-step[data-step-id$="#${id}"]`);
}

/** Expands a step and clicks the command button of its description. */
async function runStep(page, id, buttonText) {
  const s = step(page, id);
  await s.waitFor({ timeout: UI_TIMEOUT });
  if ((await s.getAttribute('aria-expanded')) !== 'true') await s.click();
  await waitFor(`step ${id} to expand`, async () => (await s.getAttribute('aria-expanded')) === 'true');
  await s.locator('.monaco-button, a', { hasText: buttonText }).first().click({ timeout: UI_TIMEOUT });
}

async function walkthroughVisible(page) {
  return page.locator('.gettingStartedContainer .category-title', { hasText: WALKTHROUGH_TITLE }).first().isVisible();
}

export default {
  id: 14,
  name: 'walkthrough opens once after install and its steps work on the samples',
  server: 'first-start',
  timeoutMs: 600_000,
  async run({ page, openWorkspace, server, screenshotOf, extensionLog }) {
    // A second try starts as the first did: without the fused and merged samples a first try wrote.
    const storage = path.join(server.dirs.userData, 'User', 'globalStorage', 'modelfuse.modelfuse');
    if (existsSync(storage)) {
      for (const entry of readdirSync(storage, { recursive: true })) {
        if (/\.(fused|merged)(-\d+)?\.onnx(\.data)?$/.test(String(entry))) rmSync(path.join(storage, String(entry)), { force: true });
      }
    }
    await openWorkspace();
    await waitFor('the ModelFuse walkthrough to open by itself', () => walkthroughVisible(page), { timeoutMs: 60_000 });
    for (const id of ['openSample', 'sequences', 'fuse', 'merge', 'codelens']) check((await step(page, id).count()) === 1, `the walkthrough has no step ${id}`);
    const images = await page.locator('.gettingStartedContainer .getting-started-media img').count();
    check(images >= 1, 'the walkthrough shows no step image');
    await screenshotOf('walkthrough');

    // 1. The sample model opens in the ModelFuse editor (copied into the extension's storage).
    await runStep(page, 'openSample', 'Open the Sample Model');
    const overview = await findWebview(page, 'the sample model overview', async (frame) => /resnet_style\.onnx/.test(await webviewTextNow(frame)) && /fusible/i.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    const samples = path.join(server.dirs.userData, 'User', 'globalStorage', 'modelfuse.modelfuse');
    // Remote rule: what the page got from the extension (its text and attributes; not the asWebviewUri
    // URLs of its own script and stylesheets, which VS Code resolves) holds no absolute server path.
    const shown = await overview.locator('body').evaluate((body) => {
      const parts = [body.innerText];
      for (const element of body.querySelectorAll('*')) if (element.tagName !== 'SCRIPT') for (const attribute of element.attributes) parts.push(attribute.value);
      return parts.join('\n');
    });
    for (const secret of [samples, server.dirs.userData, server.dirs.root]) {
      const at = shown.indexOf(secret);
      check(at < 0, `the overview webview shows the absolute path ${secret}: …${shown.slice(Math.max(0, at - 80), at + 160)}…`);
    }
    check(/ModelFuse storage\/samples-[\d.]+\/resnet_style\.onnx/.test(shown), 'the overview does not name the sample by its storage-relative path');
    await screenshotOf('sample-model');

    // 2. Its fusible sequences in the side panel.
    await runStep(page, 'sequences', 'Show Fusible Sequences');
    await waitFor('the sample’s sequences in the Fusible Sequences view', async () => (await viewRows(page, 'Fusible Sequences').allInnerTexts()).join(' ').includes('blocks.0.conv2'), { timeoutMs: WORK_TIMEOUT });
    await screenshotOf('sequences');

    // 3. Fuse, verified in ONNX Runtime.
    await runStep(page, 'fuse', 'Fuse the Sample Model');
    const fused = await waitForNotification(page, /Fused \d+ sequences? of resnet_style\.onnx → resnet_style\.fused\.onnx/, WORK_TIMEOUT);
    const fuseSummary = (await fused.innerText()).replace(/\s+/g, ' ');
    check(/Verified in ONNX Runtime/i.test(fuseSummary), `the fuse was not verified: ${fuseSummary}`);
    await screenshotOf('fused');
    const sampleDir = await waitFor('the sample folder in the extension’s storage', () => {
      const found = existsSync(samples) ? readdirSync(samples).filter((name) => name.startsWith('samples-')) : [];
      return found.length === 1 && path.join(samples, found[0]);
    });
    const fusedFile = path.join(sampleDir, 'resnet_style.fused.onnx');
    await waitForFile(fusedFile);
    const resIo = readSafetensors(path.join(FIXTURES, 'zoo_resstyle', 'io.safetensors'));
    const fusedMatch = compare((await runModel(fusedFile, { x: resIo['input.x'] })).y, resIo['output.y'].data);
    check(fusedMatch.ok, `the fused sample differs from PyTorch's output: max |Δ| ${fusedMatch.maxAbs}`);

    // 4. Merge the sample LoRA adapter: weight 1, the key mapping confirmed.
    await runStep(page, 'merge', 'Merge the Sample Adapter');
    await acceptInputBox(page, 'weight of');
    const confirm = page.locator('.quick-input-widget .monaco-list-row', { hasText: /Merge \d+ modules? → base\.merged\.onnx/ }).first();
    await confirm.waitFor({ timeout: WORK_TIMEOUT });
    await screenshotOf('merge-mapping');
    await confirm.click({ timeout: UI_TIMEOUT });
    await waitForNotification(page, /Merged \d+ adapter modules? into base\.onnx → base\.merged\.onnx/, WORK_TIMEOUT);
    const mergedFile = path.join(sampleDir, 'tiny_llm_lora', 'base.merged.onnx');
    await waitForFile(mergedFile);
    const loraIo = readSafetensors(path.join(FIXTURES, 'lora_linear_qv', 'io.safetensors'));
    const mergedMatch = compare((await runModel(mergedFile, { ids: loraIo['input.ids'] })).y, loraIo['merged_output.y'].data);
    check(mergedMatch.ok, `the merged sample differs from PEFT's merged output: max |Δ| ${mergedMatch.maxAbs}`);

    // 5. CodeLens on the sample model.py.
    await runStep(page, 'codelens', 'Open the Sample model.py');
    const lens = page.locator('.monaco-editor .codelens-decoration a', { hasText: /ModelFuse/i }).first();
    await lens.waitFor({ timeout: WORK_TIMEOUT });
    const lensText = (await page.locator('.monaco-editor .codelens-decoration').allInnerTexts()).join(' | ');
    check(/fusible/i.test(lensText), `unexpected CodeLens on model.py: ${lensText}`);
    await screenshotOf('codelens');

    // Once: after a reload (the extension activates again) the walkthrough does not open again.
    const activations = () => (extensionLog().match(/ModelFuse [\d.]* ?activated/g) ?? []).length;
    const before = activations();
    // The workbench restores open editors on reload; closed, only a new opening would show it.
    await runCommand(page, 'View: Close All Editors');
    await waitFor('every editor to close', async () => !(await walkthroughVisible(page)));
    // Reload Window as a user does: the workbench saves its editor state before it reloads (a browser
    // reload can lose the last save, and then restores the closed walkthrough tab itself).
    await runCommand(page, 'Developer: Reload Window');
    await page.waitForLoadState('domcontentloaded');
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await waitFor('the extension to activate again after the reload', () => activations() > before, { timeoutMs: 180_000 });
    const opened = (extensionLog().match(/first start: opening the Get Started walkthrough/g) ?? []).length;
    check(opened === 1, `the walkthrough was opened ${opened} times by the extension`);
    check(!(await walkthroughVisible(page)), 'the walkthrough opened again after a reload');
  },
};
