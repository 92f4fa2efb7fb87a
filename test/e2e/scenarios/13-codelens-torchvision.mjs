// CodeLens on torchvision's own model code (Debian's python3-torchvision 0.14, copied into the
// workspace at run time, never into the repository): resnet.py's blocks built through conv3x3 /
// conv1x1 helpers, with the shared relu flagged; mobilenetv2.py built from Conv2dNormActivation and
// nn.Sequential(*layers). The groups are the ones torchvision's quantizable classes fuse, less the
// shared relu (a trap) and ReLU6 (not fusable). Insert fuse_model() on BasicBlock writes them.
import { readFileSync } from 'node:fs';
import { check, waitFor } from '../lib/poll.mjs';
import { activeTabTitle, revealInExplorer, saveActiveEditorUntil, UI_TIMEOUT, WORK_TIMEOUT } from '../lib/workbench.mjs';
import { TORCHVISION_MODELS } from '../lib/workspace.mjs';

const LENS_LINES = '.editor-group-container.active .monaco-editor .codelens-decoration';

/**
 * Brings the line of `class NAME` of the open file into view (Go to Line through the quick-open
 * box: Monaco renders only the lines in view, and a wheel scroll cannot be aimed) and returns the
 * CodeLens line above it that matches `pattern`, waiting for the analysis to finish.
 */
async function lensOfClass(page, file, className, pattern) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((text) => text.startsWith(`class ${className}(`)) + 1;
  check(line > 0, `class ${className} is not in ${file}`);
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitFor(`the Go to Line box for line ${line} (class ${className})`, async () => {
    if (!(await input.isVisible())) await page.keyboard.press('Control+P');
    await input.waitFor({ timeout: UI_TIMEOUT });
    await input.fill(`:${line}`, { timeout: 2000 }).catch(() => undefined);
    return (await input.inputValue()) === `:${line}` && (await page.locator('.quick-input-widget', { hasText: `go to line ${line}` }).isVisible());
  });
  await input.press('Enter');
  await waitFor(`line ${line} (class ${className}) in view`, async () => !(await input.isVisible()));
  return waitFor(
    `the ${className} lens`,
    async () => {
      const lens = page.locator(LENS_LINES, { hasText: pattern }).first();
      return (await lens.count()) > 0 && (await lens.isVisible()) && lens;
    },
    { timeoutMs: WORK_TIMEOUT, intervalMs: 400 },
  );
}

/**
 * Text and tooltips of the lenses of one line. VS Code first shows the lenses it cached for the file
 * (titles only, no tooltips) and replaces them when the provider answers: wait for the tooltips.
 */
async function lensDetails(line) {
  return waitFor('the lenses with their tooltips (not the cached titles)', async () => {
    const text = (await line.innerText()).replace(/\u00a0/g, ' ');
    const tooltips = await line.locator('a').evaluateAll((anchors) => anchors.map((a) => a.getAttribute('title') ?? ''));
    return tooltips.some((t) => t.length > 0) && { text, tooltips: tooltips.join('\n') };
  }, { timeoutMs: WORK_TIMEOUT });
}

async function openFile(page, relativePath) {
  const row = await revealInExplorer(page, relativePath);
  await row.click();
  await waitFor(`${relativePath} to open`, async () => (await activeTabTitle(page)) === relativePath.split('/').pop());
}

export default {
  id: 13,
  name: "CodeLens on torchvision's resnet.py and mobilenetv2.py",
  server: 'trusted',
  // Two files, five classes, each found by scrolling; the e2e machine is shared.
  timeoutMs: 480_000,
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    if (!workspace.torchvision) {
      console.log(`  SKIP: ${TORCHVISION_MODELS} is missing (Debian's python3-torchvision is not installed; .ci/run installs it)`);
      return;
    }
    await openWorkspace();
    await openFile(page, 'torchvision/resnet.py');

    // class BasicBlock (line 59): conv1 = conv3x3(...) through the helper; relu is called twice.
    const basic = await lensDetails(await lensOfClass(page, workspace.torchvision['resnet.py'], 'BasicBlock', /ModelFuse: 2 fusible sequences/));
    check(/Insert fuse_model\(\)/.test(basic.text), `no Insert fuse_model() on BasicBlock: ${basic.text}`);
    check(/conv1 \+ bn1 \+ relu not fusable: self\.relu is called 2 times in forward/.test(basic.text), `the shared relu is not flagged on BasicBlock: ${basic.text}`);
    check(/conv-bn: conv1, bn1\nconv-bn: conv2, bn2/.test(basic.tooltips), `BasicBlock's groups are not conv1+bn1, conv2+bn2:\n${basic.tooltips}`);
    check(/self\.downsample: it is the constructor argument `downsample`/.test(basic.tooltips), `the tooltip does not say why downsample is not offered:\n${basic.tooltips}`);
    await screenshotOf('resnet-basicblock');

    // class Bottleneck (line 108): three conv+bn groups, the relu (called 3 times) flagged twice.
    const bottleneck = await lensDetails(await lensOfClass(page, workspace.torchvision['resnet.py'], 'Bottleneck', /ModelFuse: 3 fusible sequences/));
    check(/conv-bn: conv1, bn1\nconv-bn: conv2, bn2\nconv-bn: conv3, bn3/.test(bottleneck.tooltips), `Bottleneck's groups:\n${bottleneck.tooltips}`);
    check((bottleneck.text.match(/self\.relu is called 3 times/g) ?? []).length === 2, `Bottleneck's relu traps: ${bottleneck.text}`);

    // class ResNet (line 166): conv1 + bn1 + relu (its relu is called once), as torchvision fuses it.
    const resnet = await lensDetails(await lensOfClass(page, workspace.torchvision['resnet.py'], 'ResNet', /ModelFuse: 1 fusible sequence\b/));
    check(/conv-bn-relu: conv1, bn1, relu/.test(resnet.tooltips), `ResNet's group:\n${resnet.tooltips}`);

    // Insert fuse_model() into BasicBlock and check the saved file.
    const basicLine = await lensOfClass(page, workspace.torchvision['resnet.py'], 'BasicBlock', /ModelFuse: 2 fusible sequences/);
    await basicLine.locator('a', { hasText: 'Insert fuse_model()' }).click({ timeout: UI_TIMEOUT });
    await waitFor('the inserted fuse_model() to mark resnet.py modified', async () => page.locator('.editor-group-container.active .tab.active.dirty').isVisible(), { timeoutMs: UI_TIMEOUT });
    const saved = await saveActiveEditorUntil(page, 'resnet.py', 'def fuse_model', () => readFileSync(workspace.torchvision['resnet.py'], 'utf8'));
    const basicBlock = saved.slice(saved.indexOf('class BasicBlock'), saved.indexOf('class Bottleneck'));
    check(/def fuse_model\(self, is_qat: bool = False\) -> None:/.test(basicBlock), `fuse_model() is not inside BasicBlock:\n${basicBlock}`);
    check(/fuse\(self, \[\["conv1", "bn1"\], \["conv2", "bn2"\]\], inplace=True\)/.test(basicBlock), `BasicBlock.fuse_model() does not fuse conv1+bn1 and conv2+bn2:\n${basicBlock}`);
    check(!/"relu"/.test(basicBlock), `BasicBlock.fuse_model() fuses the shared relu:\n${basicBlock}`);
    check(saved.split('def fuse_model').length === 2, 'fuse_model() was inserted more than once');

    await openFile(page, 'torchvision/mobilenetv2.py');
    // class InvertedResidual (line 19): nn.Sequential(*layers) after an optional expansion layer.
    const inverted = await lensDetails(await lensOfClass(page, workspace.torchvision['mobilenetv2.py'], 'InvertedResidual', /ModelFuse: 3 fusible sequences/));
    for (const group of ['conv-bn: conv.0.0, conv.0.1', 'conv-bn: conv.-3.0, conv.-3.1', 'conv-bn: conv.-2, conv.-1']) {
      check(inverted.tooltips.split('\n').includes(group), `InvertedResidual's groups lack "${group}":\n${inverted.tooltips}`);
    }
    // class MobileNetV2 (line 67): the first and last Conv2dNormActivation of features; ReLU6 said.
    const mobilenet = await lensDetails(await lensOfClass(page, workspace.torchvision['mobilenetv2.py'], 'MobileNetV2', /ModelFuse: 2 fusible sequences/));
    check(/conv-bn: features\.0\.0, features\.0\.1\nconv-bn: features\.-1\.0, features\.-1\.1/.test(mobilenet.tooltips), `MobileNetV2's groups:\n${mobilenet.tooltips}`);
    check(/\(nn\.ReLU6\): fuse_modules fuses the activation only when it is nn\.ReLU/.test(mobilenet.tooltips), `the ReLU6 near miss is not said:\n${mobilenet.tooltips}`);
    check(/self\.features: `block\(…\)` is added in a loop/.test(mobilenet.tooltips), `the blocks built in a loop are not said:\n${mobilenet.tooltips}`);
    await screenshotOf('mobilenetv2');
    check(readFileSync(`${TORCHVISION_MODELS}/resnet.py`, 'utf8').indexOf('def fuse_model') < 0, 'the installed torchvision file was modified');
  },
};
