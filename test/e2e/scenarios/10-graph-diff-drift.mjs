// After a fuse, "Graph diff" opens the fused model's Graph tab in diff mode (BatchNorms removed,
// folded convolutions changed). Then the test breaks one fold in the fused file on disk (shifts the
// folded bias of blocks.0.conv2) and "Locate drift" must point at that fold first.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { openModelFromExplorer, waitForFile } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { E2E_DIR } from '../lib/deps.mjs';
import { clickNotificationAction, findWebview, runCommand, waitForNotification, WORK_TIMEOUT } from '../lib/workbench.mjs';
import { drawingId, panelText, paintedFraction, waitForDrawing, webviewTextNow } from '../lib/graph.mjs';

/** The repository's generated ONNX protobuf classes (protobufjs), to edit the fused model like a test fixture. */
const onnx = createRequire(path.join(E2E_DIR, '..', '..', 'package.json'))('./extension/engine/onnx/generated/onnx.js').onnx;

function breakFold(file, initializer) {
  const model = onnx.ModelProto.decode(readFileSync(file));
  const bias = model.graph.initializer.find((t) => t.name === initializer);
  check(bias?.rawData?.length || bias?.raw_data?.length, `${initializer} is not in the fused model`);
  const raw = bias.raw_data ?? bias.rawData;
  const values = new Float32Array(Uint8Array.from(raw).buffer);
  values[0] += 0.5;
  bias.raw_data = new Uint8Array(values.buffer);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, onnx.ModelProto.encode(model).finish());
  renameSync(tmp, file);
}

export default {
  id: 10,
  name: 'graph view: diff mode after a fuse, and Locate drift on a deliberately broken fold',
  server: 'trusted',
  timeoutMs: 300_000,
  async run({ page, openWorkspace, workspace, screenshotOf }) {
    await openWorkspace();
    await openModelFromExplorer(page, 'compare/resstyle_copy.onnx');
    await runCommand(page, 'ModelFuse: Fuse All Safe Sequences');
    const toast = await waitForNotification(page, /Fused \d+ sequences of resstyle_copy\.onnx → (resstyle_copy\.fused(-\d+)?\.onnx)/, WORK_TIMEOUT);
    const name = /→ (resstyle_copy\.fused(-\d+)?\.onnx)/.exec((await toast.innerText()).replace(/\s+/g, ' '))[1];
    const fused = path.join(path.dirname(workspace.diffModel), name);
    await waitForFile(fused);
    await clickNotificationAction(toast, /Graph diff/);

    const editor = await findWebview(page, `the Graph tab of ${name} in diff mode`, async (frame) => /vs resstyle_copy\.onnx/.test(await webviewTextNow(frame)), WORK_TIMEOUT);
    await waitForDrawing(editor, 0);
    const toolbar = (await editor.locator('.graph-toolbar').innerText()).replace(/\s+/g, ' ');
    check(/6 removed · 6 changed · 0 added/.test(toolbar), `diff summary: ${toolbar}`);
    check((await paintedFraction(editor)) > 0.01, 'nothing is drawn on the graph canvas');
    await screenshotOf('diff-after');
    const afterDrawing = await drawingId(editor);
    await editor.locator('#graph-before').click();
    await waitForDrawing(editor, afterDrawing);
    await screenshotOf('diff-before');
    const beforeDrawing = await drawingId(editor);
    await editor.locator('#graph-after').click();
    await waitForDrawing(editor, beforeDrawing);

    breakFold(fused, 'blocks.0.conv2.bias');
    await editor.locator('#graph-locate-drift').click();
    await waitFor('the drift ranking', async () => /Where the outputs drift/.test(await panelText(editor).catch(() => '')), { timeoutMs: WORK_TIMEOUT });
    const ranking = await panelText(editor);
    const first = ranking.split('\n').find((l) => /\/.+\/(Conv|Relu|Add)/.test(l)) ?? '';
    check(/\/conv2\/Conv/.test(first) && /blocks\.0\.conv2/.test(first), `the broken fold is not ranked first:\n${ranking.slice(0, 1200)}`);
    check(/drift starts here/.test(ranking), `no origin of the drift is named:\n${ranking.slice(0, 1200)}`);
    console.log(`     (first in the ranking: ${first.trim()})`);
    await screenshotOf('locate-drift');
  },
};
