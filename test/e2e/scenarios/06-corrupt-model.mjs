// A truncated .onnx (an interrupted download) shows one clear error naming the file and the
// problem, and the extension keeps working: the next model opens normally.
import { openModelFromExplorer, webviewText, webviewTextNow } from '../lib/modelfuse.mjs';
import { check, waitFor } from '../lib/poll.mjs';
import { findWebview, revealInExplorer, visibleNotifications, WORK_TIMEOUT } from '../lib/workbench.mjs';

export default {
  id: 6,
  name: 'a corrupt .onnx shows a clear error and the extension keeps working',
  server: 'trusted',
  async run({ page, openWorkspace, screenshotOf }) {
    await openWorkspace();
    const row = await revealInExplorer(page, 'broken/corrupt.onnx');
    await row.click();
    // The error may be shown in the editor itself or as a notification; either must name the file.
    const error = await waitFor(
      'an error about corrupt.onnx',
      async () => {
        const toasts = (await visibleNotifications(page)).filter((text) => text.includes('corrupt.onnx'));
        if (toasts.length) return toasts[0];
        const editor = await findWebview(page, 'an editor webview', async () => true, 1_000).catch(() => null);
        const text = editor ? await webviewTextNow(editor) : '';
        return /corrupt\.onnx/.test(text) && /error|invalid|truncated|cannot|not an onnx|failed/i.test(text) && text;
      },
      { timeoutMs: WORK_TIMEOUT },
    );
    await screenshotOf('error');
    const line = String(error).replace(/\s+/g, ' ');
    check(!/at \w+ \(|\.ts:\d+|\.js:\d+|Internal error/.test(line), `the error is a stack trace or internal error, not a user message: ${line}`);
    check(/truncat|invalid|corrupt|not .*onnx|decode|parse|wire|end of|index out of range/i.test(line), `the error does not say what is wrong: ${line}`);

    // The extension still works: a valid model opens with its overview.
    const editor = await openModelFromExplorer(page, 'resnet/resstyle.onnx');
    check((await webviewText(editor)).includes('blocks.0.conv2'), 'the valid model after the corrupt one shows no sequences');
  },
};
