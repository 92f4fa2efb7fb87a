// Checks shared by the LoRA merge scenarios: the quick pick's rows and check marks, progress toasts,
// and the merged safetensors file against PEFT's merge_and_unload() tensors.
import path from 'node:path';
import { check } from './poll.mjs';
import { FIXTURES, readSafetensors } from './reference.mjs';

/** The rows of the open quick pick (rendered ones), with their text and whether they are checked. */
export async function quickPickRows(page) {
  return page.locator('.quick-input-widget .monaco-list-row').evaluateAll((rows) =>
    rows.map((row) => ({
      text: row.innerText.replace(/\s+/g, ' ').trim(),
      checked: row.getAttribute('aria-checked') === 'true' || !!row.querySelector('input[type=checkbox]:checked, .monaco-checkbox.checked, .codicon-check.checked'),
    })),
  );
}

/** Toasts still showing a progress bar now (a finished operation must not leave one behind). */
export async function progressToastsNow(page) {
  return page.locator('.notifications-toasts .notification-toast').evaluateAll((toasts) =>
    toasts
      .filter((t) => t.querySelector('.monaco-progress-container.active, .monaco-progress-container.infinite, .monaco-progress-container.discrete'))
      .map((t) => t.innerText.replace(/\s+/g, ' ').trim()),
  );
}

/**
 * Every tensor of a merged safetensors file equals PEFT's merged.safetensors (1e-5 relative), under
 * `rename` of the names; returns how many tensors the adapter changed.
 */
export function checkMergedLikePeft(merged, rename = (n) => n) {
  const got = readSafetensors(merged);
  const want = readSafetensors(path.join(FIXTURES, 'lora_linear_qv', 'merged.safetensors'));
  const base = readSafetensors(path.join(FIXTURES, 'lora_linear_qv', 'base.safetensors'));
  let changed = 0;
  for (const [name, w] of Object.entries(want)) {
    const g = got[rename(name)];
    check(g, `${path.basename(merged)} has no tensor ${rename(name)}`);
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < w.data.length; i++) {
      worst = Math.max(worst, Math.abs(g.data[i] - w.data[i]) / Math.max(Math.abs(w.data[i]), 1e-3));
      moved = Math.max(moved, Math.abs(base[name].data[i] - w.data[i]));
    }
    check(worst <= 1e-5, `${rename(name)} differs from PEFT's merged ${name}: max rel err ${worst}`);
    if (moved > 0) changed++;
  }
  return changed;
}
