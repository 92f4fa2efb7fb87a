// An eval-default PyTorch export, alone in its folder: the exporter folded the BatchNorms into the
// Convs and named none, so the overview cannot give [conv, bn, act] for fuse_modules and says so. The
// user clicks "Name from Python definition…"; a .py with no class is refused with one message; then
// the user picks the model's .py in the file dialog, and the
// overview, the notification and the copied fuse list name the BatchNorms — the groups the CLI prints
// with `fuse-list --python`.
import { openModelFromExplorer, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { chooseInFileDialog, runCommand, UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 18,
  name: "an exporter-folded model's BatchNorms named from its Python definition",
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    const editor = await openModelFromExplorer(page, 'folded/stem_block.onnx');
    const before = await webviewText(editor);
    const banner = /The exporter folded (\d+) BatchNorms? into Convs without naming/.exec(before);
    check(banner, `the overview does not say the exporter folded BatchNorms without names:\n${before.slice(0, 2000)}`);
    await screenshotOf('unnamed');

    // A file that defines no class is refused with its name, and not remembered.
    await editor.locator('vscode-button', { hasText: 'Name from Python definition…' }).click({ timeout: UI_TIMEOUT });
    await chooseInFileDialog(page, workspace.foldedHelpers, /folded/);
    await waitForNotification(page, /helpers\.py: defines no class, so it cannot name the modules of stem_block\.onnx/, WORK_TIMEOUT);
    check(/without naming/.test(await webviewText(editor)), 'the overview changed after a refused file');

    await editor.locator('vscode-button', { hasText: 'Name from Python definition…' }).click({ timeout: UI_TIMEOUT });
    await chooseInFileDialog(page, workspace.foldedPython, /folded/);

    const toast = await waitForNotification(page, /stem_model\.py named \d+ of the \d+ BatchNorms/, WORK_TIMEOUT);
    const said = (await toast.innerText()).replace(/\s+/g, ' ');
    const [, named, total] = /named (\d+) of the (\d+) BatchNorms/.exec(said);
    check(Number(named) === Number(total) && Number(total) === Number(banner[1]), `not every folded BatchNorm was named: ${said} (the banner said ${banner[1]})`);
    const after = await waitFor('the overview with the names', async () => {
      const t = await webviewTextNow(editor);
      return /Module names from stem_model\.py/.test(t) && t;
    }, { timeoutMs: WORK_TIMEOUT });
    check(!/without naming/.test(after), 'the overview still says the BatchNorms are unnamed');
    await screenshotOf('named');

    await runCommand(page, 'ModelFuse: Copy PyTorch Fuse List');
    const copied = await waitFor('the fuse list on the clipboard', async () => {
      const text = await page.evaluate(() => navigator.clipboard.readText()).catch(() => '');
      return /fuse_modules/.test(text) && text;
    }, { timeoutMs: UI_TIMEOUT });
    for (const group of ["['conv', 'bn', 'act']", "['head.0', 'head.1', 'head.2']"]) check(copied.includes(group), `the copied fuse list lacks ${group}:\n${copied}`);
  },
};
