// A model with dynamic sizes (input x [?, 3, ?, ?], weights in Constant nodes as paddle2onnx writes
// them): the overview counts its Constant-node weights, the fuse is verified at the sizes chosen from
// the model (224×224, a multiple of its total stride), and the notification and the diff panel say
// which shapes, dtype and seed were used and why; the folded kernels are "changed", not "added".
import path from 'node:path';
import { openModelFromExplorer, waitForFile, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { clickNotificationAction, findWebview, runCommand, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 11,
  name: 'dynamic-shape model verified at the sizes chosen from the model',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    const editor = await openModelFromExplorer(page, 'dynamic/det_dynamic.onnx');
    const overview = await webviewText(editor);
    check(/Parameters · 8 in Constant nodes/.test(overview), `the overview does not count the Constant-node weights:\n${overview.slice(0, 1200)}`);
    check(/batch × 3 × height × width/.test(overview), `the overview does not show the dynamic input:\n${overview.slice(0, 1200)}`);

    await runCommand(page, 'ModelFuse: Fuse All Safe Sequences');
    const toast = await waitForNotification(page, /Show diff/i, WORK_TIMEOUT);
    const summary = (await toast.innerText()).replace(/\s+/g, ' ');
    check(/Verified in ONNX Runtime/.test(summary), `not verified: ${summary}`);
    check(/Inputs: x float32\[1, 3, 224, 224\] \(random normal\(0,1\), seed 0\)/.test(summary), `the notification does not name the inputs: ${summary}`);
    await screenshotOf('notification');
    await waitForFile(path.join(path.dirname(workspace.dynamicModel), 'det_dynamic.fused.onnx'));
    await clickNotificationAction(toast, /Show diff/i);

    const panel = await findWebview(page, 'the parameter-diff panel', async (frame) => /Changed tensors/.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    await waitFor('the diff panel to show the verification passed', async () => /Verification\s*PASSED/.test(await webviewTextNow(panel)), { timeoutMs: WORK_TIMEOUT });
    const text = await webviewText(panel);
    check(/Inputs: x float32\[1, 3, 224, 224\] \(random normal\(0,1\), seed 0\)/.test(text), `the panel does not name the inputs:\n${text.slice(0, 2000)}`);
    check(/224×224: image input, a multiple of the total stride 4/.test(text), `the panel does not say how the sizes were chosen:\n${text.slice(0, 2000)}`);
    check(/conv1\.weight/.test(text) && !/\badded\b/.test(text), `the folded Constant-node kernel is not a changed tensor:\n${text.slice(0, 3000)}`);
  },
};
