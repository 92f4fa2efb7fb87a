// An unmerged PEFT export in the Graph tab: the LoRA branches are sequences named by their layer with
// rank and scale, drawn inside their layer's box, and shown as branches once the layer is opened.
import { openModelFromExplorer } from '../lib/modelfuse.mjs';
import { check } from '../lib/poll.mjs';
import { clickCentre, findInGraph, openGraphTab, paintedFraction, panelText, waitForPanel } from '../lib/graph.mjs';

export default {
  id: 9,
  name: 'graph view: PEFT unmerged export with its LoRA branches',
  server: 'trusted',
  async run({ page, openWorkspace, screenshotOf }) {
    await openWorkspace();
    const editor = await openModelFromExplorer(page, 'lora/peft_unmerged.onnx');
    await openGraphTab(editor);
    const status = await editor.locator('.graph-status').innerText();
    check(/4 sequences/.test(status), `the four LoRA branches are not on the graph: ${status}`);
    check((await paintedFraction(editor)) > 0.01, 'nothing is drawn on the graph canvas');
    await screenshotOf('collapsed');

    // The adapter's B matrix of layer 0's q_proj: find opens its layer and centres it.
    await findInGraph(editor, 'q_proj/default_1/MatMul');
    await clickCentre(editor);
    await waitForPanel(editor, /lora-branch/, 'the node panel to name the LoRA branch');
    const panel = await panelText(editor);
    check(/layers\.0\.attn\.q_proj · rank 4 · scale \d/.test(panel), `the branch is not named by module · rank · scale: ${panel.slice(0, 800)}`);
    check(/lora_B|default_1/.test(panel), `the panel is not the adapter's node: ${panel.slice(0, 400)}`);
    await screenshotOf('branch');
  },
};
