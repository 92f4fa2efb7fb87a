// A user clicks a model in the Explorer: it opens in ModelFuse's custom editor, which shows the
// model's overview and the fusible sequences the engine found in it.
import { openModelFromExplorer, webviewText } from '../lib/modelfuse.mjs';
import { check } from '../lib/poll.mjs';
import { activeTabTitle } from '../lib/workbench.mjs';

export default {
  id: 1,
  name: 'open a model from the Explorer: overview and fusible sequences',
  server: 'trusted',
  async run({ page, openWorkspace }) {
    await openWorkspace();
    const editor = await openModelFromExplorer(page, 'resnet/resstyle.onnx');
    check((await activeTabTitle(page)).includes('resstyle.onnx'), 'the active tab is not resstyle.onnx');
    const text = await webviewText(editor);
    // The overview: what PyTorch exported (input x 1×3×16×16, output y, opset, parameters).
    for (const expected of [/pytorch/i, /opset/i, /\bx\b/, /\by\b/, /param/i]) {
      check(expected.test(text), `the overview does not show ${expected}:\n${text.slice(0, 1500)}`);
    }
    check(/1\D{1,3}3\D{1,3}16\D{1,3}16/.test(text), `the overview does not show the input shape 1×3×16×16:\n${text.slice(0, 1500)}`);
    // The sequences the fixture's case.json lists (torch.ao.quantization.fuse_modules accepts them).
    for (const module of ['blocks.0.conv2', 'blocks.0.bn2', 'blocks.1.conv2', 'head.0', 'head.1', 'head.2']) {
      check(text.includes(module), `the fusible sequences do not include ${module}:\n${text.slice(0, 3000)}`);
    }
    check(/conv.?bn.?relu/i.test(text), 'no conv-bn-relu sequence is shown');
    // conv1/bn1 + the shared relu must be flagged, not offered as a plain safe sequence.
    check(/shared|called more than once|reused|used \d+ times/i.test(text), 'the shared relu is not flagged');
  },
};
