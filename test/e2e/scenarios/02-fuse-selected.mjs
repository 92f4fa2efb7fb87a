// The ModelFuse side bar lists the model's modules and fusible sequences; the user selects two
// sequences, right-clicks "Fuse Selected Modules", sees progress, and gets a verified fused model
// beside the original, visible in the Explorer.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  expandPane,
  openModelFromExplorer,
  showModelFuseSideBar,
  viewRows,
  waitForFile,
  workersWithOnnxRuntime,
} from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { compare, FIXTURES, readSafetensors, runModel } from '../lib/reference.mjs';
import {
  contextMenu,
  recordedNotifications,
  recordNotifications,
  revealInExplorer,
  UI_TIMEOUT,
  waitForNotification,
  WORK_TIMEOUT,
} from '../lib/workbench.mjs';

export default {
  id: 2,
  name: 'ModelFuse view: multi-select two sequences and Fuse Selected Modules',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, server, screenshotOf }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'resnet/resstyle.onnx');
    await showModelFuseSideBar(page);

    await expandPane(page, 'Modules');
    const modules = viewRows(page, 'Modules');
    await waitFor('the Modules view to list the model', async () => (await modules.allInnerTexts()).join('\n').match(/blocks|head|conv1/));

    await expandPane(page, 'Fusible Sequences');
    const sequences = viewRows(page, 'Fusible Sequences');
    const first = sequences.filter({ hasText: 'blocks.0.conv2' }).first();
    const second = sequences.filter({ hasText: 'head.0' }).first();
    await first.waitFor({ timeout: UI_TIMEOUT });
    await second.waitFor({ timeout: UI_TIMEOUT });

    await first.click();
    await second.click({ modifiers: ['Control'] });
    await waitFor('both sequences to be selected', async () =>
      (await first.getAttribute('aria-selected')) === 'true' && (await second.getAttribute('aria-selected')) === 'true',
    );

    await recordNotifications(page);
    await contextMenu(page, second, /Fuse Selected Modules/i, { whileOpen: () => screenshotOf('context-menu') });

    const fused = path.join(path.dirname(workspace.model), 'resstyle.fused.onnx');
    const result = await waitForNotification(page, /Fused \d+ sequences? of resstyle\.onnx → resstyle\.fused\.onnx/, WORK_TIMEOUT);
    const summary = (await result.innerText()).replace(/\s+/g, ' ');
    check(/Fused 2 sequences/.test(summary), `not the two selected sequences were fused: ${summary}`);
    check(/Verified in ONNX Runtime/.test(summary) && !/FAILED|Not fused/.test(summary), `the verification did not pass: ${summary}`);
    const seen = await recordedNotifications(page);
    check(seen.some((toast) => toast.progress), `no progress notification was shown (saw: ${JSON.stringify(seen)})`);

    await screenshotOf('result');
    await waitForFile(fused);
    await revealInExplorer(page, 'resnet/resstyle.fused.onnx');
    check(existsSync(workspace.model), 'the original model is gone');
    check(!readFileSync(fused).equals(readFileSync(workspace.model)), 'the fused model is identical to the original');
    // Independently of the extension's own verification: the written file, run here in ONNX
    // Runtime on the fixture's input, reproduces PyTorch's output.
    const io = readSafetensors(path.join(FIXTURES, 'zoo_resstyle', 'io.safetensors'));
    const { y } = await runModel(fused, { x: io['input.x'] });
    const match = compare(y, io['output.y'].data);
    console.log(`     (fused model vs PyTorch output.y, run here in ONNX Runtime: max |Δ| ${match.maxAbs.toExponential(2)})`);
    check(match.ok, `the fused model's output differs from PyTorch's: max |Δ| ${match.maxAbs}`);
    // Positive control for scenario 7's check: verification loaded ONNX Runtime in the worker.
    check(workersWithOnnxRuntime(server).length > 0, 'no ModelFuse worker process has ONNX Runtime loaded after verifying');
  },
};
