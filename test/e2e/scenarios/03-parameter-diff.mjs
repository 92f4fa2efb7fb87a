// After a fuse, "Show diff" opens the parameter-diff panel: a table of the changed tensors and
// charts (per-channel BN scale, weight histograms), drawn from the worker's summaries.
import path from 'node:path';
import { openModelFromExplorer, waitForFile, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { clickNotificationAction, findWebview, runCommand, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';

/** How many canvases in the frame have something drawn on them (any non-transparent pixel). */
async function paintedCanvases(frame) {
  const canvases = frame.locator('canvas');
  const count = await canvases.count();
  let painted = 0;
  for (let i = 0; i < count; i++) {
    const drawn = await canvases.nth(i).evaluate((canvas) => {
      if (canvas.width === 0 || canvas.height === 0) return false;
      const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
      if (!pixels) return false;
      for (let p = 3; p < pixels.length; p += 4) if (pixels[p] !== 0) return true;
      return false;
    });
    if (drawn) painted++;
  }
  return painted;
}

export default {
  id: 3,
  name: 'parameter-diff panel: changed tensors and charts',
  server: 'trusted',
  async run({ page, openWorkspace, workspace }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'compare/resstyle_copy.onnx');
    await runCommand(page, 'ModelFuse: Fuse All Safe Sequences');
    const summary = await waitForNotification(page, /Show diff/i, WORK_TIMEOUT);
    await waitForFile(path.join(path.dirname(workspace.diffModel), 'resstyle_copy.fused.onnx'));
    await clickNotificationAction(summary, /Show diff/i);

    const panel = await findWebview(page, 'the parameter-diff panel', async (frame) => /ΔW|delta/i.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    const text = await webviewText(panel);
    // The folded convolutions are the changed tensors (module names from the fixture's case.json).
    for (const module of ['blocks.0.conv2', 'blocks.1.conv2', 'head.0']) {
      check(text.includes(module), `the diff does not list ${module}:\n${text.slice(0, 3000)}`);
    }
    check(/‖ΔW‖|\|ΔW\||norm/i.test(text), 'the diff table has no norm columns');
    // The verification runs after the panel opens; wait for its verdict.
    await waitFor('the diff panel to show the verification passed', async () => /Verification\s*PASSED/.test(await webviewTextNow(panel)), { timeoutMs: WORK_TIMEOUT });
    await waitFor('the diff charts to be drawn', async () => (await paintedCanvases(panel)) >= 2, { timeoutMs: 30_000 });
  },
};
