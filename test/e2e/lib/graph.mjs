// Steps on the model editor's Graph tab (webview/graph): open the tab, wait for a layout to be
// drawn, find, click boxes on the canvas, read the node panel.
import { check, waitFor } from './poll.mjs';
import { UI_TIMEOUT, WORK_TIMEOUT } from './workbench.mjs';
import { webviewTextNow } from './modelfuse.mjs';

/** Clicks the Graph tab of an editor webview and waits until a layout is drawn. */
export async function openGraphTab(frame) {
  await frame.locator('#tab-graph').click({ timeout: UI_TIMEOUT });
  return waitForDrawing(frame, 0);
}

/** The id of the last layout drawn (it increases with each layout). */
export async function drawingId(frame) {
  return Number((await frame.locator('.graph-canvas-host').getAttribute('data-ready', { timeout: 1_000 }).catch(() => null)) ?? 0);
}

/** Waits for a layout newer than `after` to be drawn and painted; returns its id. */
export async function waitForDrawing(frame, after) {
  return waitFor('the graph to be laid out and drawn', async () => {
    const id = await drawingId(frame);
    if (id <= after) return false;
    const drawn = await frame.locator('canvas.graph-canvas').evaluate((c) => Number(c.dataset.items ?? 0));
    return drawn > 0 ? id : false;
  }, { timeoutMs: WORK_TIMEOUT });
}

/** Fraction of the canvas's pixels that differ from its top-left (background) pixel. */
export async function paintedFraction(frame) {
  return frame.locator('canvas.graph-canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let differ = 0;
    for (let p = 0; p < d.length; p += 4) if (d[p] !== d[0] || d[p + 1] !== d[1] || d[p + 2] !== d[2]) differ++;
    return differ / (d.length / 4);
  });
}

/** Types into the find box and presses Enter: the first match is revealed, centred and highlighted. */
export async function findInGraph(frame, text) {
  const before = await drawingId(frame);
  const input = frame.locator('.find-input');
  await input.fill(text);
  await input.press('Enter');
  await waitFor(`the graph to reveal the first match of ${text}`, async () => /\b1 of \d+/.test(await frame.locator('.graph-status').innerText()), { timeoutMs: WORK_TIMEOUT });
  return before;
}

/** Clicks the centre of the canvas (where find and "Locate drift" centre the box they reveal). */
export async function clickCentre(frame, options = {}) {
  const canvas = frame.locator('canvas.graph-canvas');
  const box = await canvas.boundingBox();
  check(box !== null, 'the graph canvas is not visible');
  await canvas.click({ position: { x: box.width / 2, y: box.height / 2 }, ...options });
}

export async function panelText(frame) {
  return (await frame.locator('.graph-panel').innerText({ timeout: UI_TIMEOUT })).replace(/[ \t]+/g, ' ');
}

export async function waitForPanel(frame, pattern, what) {
  return waitFor(what, async () => pattern.test(await panelText(frame).catch(() => '')), { timeoutMs: WORK_TIMEOUT });
}

export { webviewTextNow };
