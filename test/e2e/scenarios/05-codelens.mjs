// A PyTorch model definition shows a ModelFuse CodeLens above the class with fusible sequences;
// its action inserts a fuse_model() method that fuses exactly the safe groups (not the shared relu).
import { readFileSync } from 'node:fs';
import { check, waitFor } from '../lib/poll.mjs';
import { editorText, revealInExplorer, saveActiveEditorUntil, UI_TIMEOUT, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 5,
  name: 'CodeLens on a Python model inserts fuse_model()',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    const row = await revealInExplorer(page, 'python/basic_block.py');
    await row.click();
    const lenses = page.locator('.editor-group-container.active .monaco-editor .codelens-decoration a');
    const summary = lenses.filter({ hasText: /ModelFuse/i }).first();
    // tree-sitter's WASM grammar loads on first use, in the extension host.
    await summary.waitFor({ timeout: WORK_TIMEOUT });
    const lensText = (await lenses.allInnerTexts()).join(' | ');
    // BasicBlock: conv2+bn2 is safe; conv1+bn1(+relu) is not proposed with the shared relu.
    check(/fusible/i.test(lensText), `unexpected CodeLens text: ${lensText}`);

    await screenshotOf('lens');
    const insert = lenses.filter({ hasText: /fuse_model/i }).first();
    await insert.click({ timeout: UI_TIMEOUT });
    await waitFor('fuse_model() to appear in the editor', async () => /def fuse_model/.test(await editorText(page)), { timeoutMs: UI_TIMEOUT });

    const saved = await saveActiveEditorUntil(page, workspace.python, 'def fuse_model', () => readFileSync(workspace.python, 'utf8'));
    const method = saved.slice(saved.indexOf('def fuse_model'));
    check(/fuse_modules/.test(method), `fuse_model() does not call fuse_modules:\n${method}`);
    check(/["']conv2["']\s*,\s*["']bn2["']/.test(method), `fuse_model() does not fuse conv2+bn2:\n${method}`);
    check(!/["']relu["']/.test(method), `fuse_model() fuses the shared relu, which breaks the model:\n${method}`);
  },
};
