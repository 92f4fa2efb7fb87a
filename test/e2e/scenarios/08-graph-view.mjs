// The Graph tab of a torchvision-style CNN: collapsed by module, a module opened by find, the node
// panel (attributes, shapes, weight statistics), and a sequence selected on the graph and fused
// with the side panel's "Fuse Selected Modules" from the graph's context menu.
import { openModelFromExplorer, waitForFile, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { UI_TIMEOUT, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';
import { clickCentre, findInGraph, openGraphTab, paintedFraction, panelText, waitForPanel } from '../lib/graph.mjs';
import path from 'node:path';

export default {
  id: 8,
  name: 'graph view: CNN collapsed by module, expanded, node panel, a sequence fused from the graph',
  server: 'trusted',
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    const editor = await openModelFromExplorer(page, 'resnet/resstyle.onnx');
    await openGraphTab(editor);
    const status = await editor.locator('.graph-status').innerText();
    check(/20 nodes · drawn: \d+ nodes, [1-9]\d* collapsed modules · 6 sequences/.test(status), `the graph is not collapsed by module: ${status}`);
    check((await paintedFraction(editor)) > 0.01, 'nothing is drawn on the graph canvas');
    const frameMs = await editor.locator('canvas.graph-canvas').evaluate((c) => Number(c.dataset.frameMs));
    console.log(`     (collapsed graph: ${status}; frame drawn in ${frameMs} ms)`);
    await screenshotOf('collapsed');

    // Find opens the modules on the way to the node (blocks → blocks.0 → blocks.0.conv2) and centres it.
    await findInGraph(editor, 'blocks.0.conv2');
    const expanded = await editor.locator('.graph-status').innerText();
    await clickCentre(editor);
    await waitForPanel(editor, /kernel_shape/, 'the node panel to show the Conv attributes');
    const panel = await panelText(editor);
    check(/blocks\.0\.conv2/.test(panel) && /Go to Python source/i.test(panel), `the panel does not show the module: ${panel.slice(0, 500)}`);
    check(/blocks\.0\.conv2\.weight/.test(panel) && /mean ± std/.test(panel), `the panel has no weight statistics: ${panel.slice(0, 800)}`);
    check(/float32 \[16 × 16 × 3 × 3\]/.test(panel) && /\/conv2\/Conv_output_0/.test(panel), `the panel has no weight shape or output: ${panel.slice(0, 800)}`);
    check(/conv-bn/.test(panel) && /folds exactly/.test(panel), `the panel does not name the node's sequence: ${panel.slice(0, 800)}`);
    await waitFor('the clicked sequence to be selected', async () => /Fuse selected \(1\)/.test(await editor.locator('.graph-toolbar').innerText()));
    console.log(`     (${expanded})`);
    await screenshotOf('expanded-selected');

    await clickCentre(editor, { button: 'right' });
    const entry = editor.locator('.graph-menu-item', { hasText: /Fuse Selected Modules \(1\)/ });
    await entry.waitFor({ timeout: UI_TIMEOUT });
    await screenshotOf('context-menu');
    await entry.click();
    const result = await waitForNotification(page, /Fused 1 sequence of resstyle\.onnx → (resstyle\.fused(-\d+)?\.onnx)/, WORK_TIMEOUT);
    const summary = (await result.innerText()).replace(/\s+/g, ' ');
    // conv-bn of blocks.0.conv2: the BatchNormalization is folded away, one node less.
    check(/\(20 → 19 nodes\)/.test(summary), `not the one selected conv-bn was fused: ${summary}`);
    check(/Verified in ONNX Runtime/.test(summary) && !/FAILED/.test(summary), `the verification did not pass: ${summary}`);
    const name = /→ (resstyle\.fused(-\d+)?\.onnx)/.exec(summary)[1];
    await waitForFile(path.join(path.dirname(workspace.model), name));
    check(/fusible/i.test(await webviewTextNow(editor)), 'the editor was lost');
    await screenshotOf('fused');
  },
};
