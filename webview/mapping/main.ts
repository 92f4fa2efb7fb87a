/**
 * The LoRA key-mapping editor: one row per adapter module — its delta shape,
 * a choice of base tensor (only tensors whose shape fits, best name match
 * first, or "leave out"), and the evidence or the reason it did not match.
 * "Save mapping and merge" sends the choices to the host, which writes the
 * mapping file and merges; the page never touches files.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { MappingChoices, MappingHostSpec, MappingState, MappingWebviewSpec, ShownMappingRow } from '../../extension/protocol/mappingWebviewProtocol';
import { connectToHost } from '../shared/webviewBase';
import { h, replaceChildren } from '../shared/dom';
import { shape } from '../../shared/format';

const host = connectToHost<MappingWebviewSpec, MappingHostSpec>();
const root = document.getElementById('root') as HTMLElement;
/** The select's value for "leave this module out" (a tensor name is never empty). */
const LEAVE_OUT = '';

host.on('state', (state) => render(state));

function render(state: MappingState): void {
  switch (state.phase) {
    case 'loading':
      replaceChildren(root, h('div', { class: 'loading' }, h('vscode-progress-ring'), h('div', null, state.message)));
      return;
    case 'error':
      replaceChildren(root, h('div', { class: 'error-panel' }, h('h2', null, 'Cannot show the key mapping'), h('p', { class: 'error-message' }, state.message), actionsRow(null, true)));
      return;
    case 'ready':
      renderTable(state);
  }
}

function renderTable(state: Extract<MappingState, { phase: 'ready' }>): void {
  const choices: MappingChoices = {};
  for (const r of state.rows) choices[r.module] = r.target;
  const counter = h('span', { class: 'muted counter' });
  const updateCounter = () => {
    const paired = Object.values(choices).filter((t) => t !== null).length;
    counter.textContent = `${paired} of ${state.rows.length} module${state.rows.length === 1 ? '' : 's'} paired with a base tensor`;
  };
  updateCounter();
  const unmatched = state.rows.filter((r) => r.status === 'unmatched').length;
  replaceChildren(
    root,
    h('main', { class: 'overview mapping' },
      h('header', { class: 'title-row' }, h('h1', null, 'LoRA key mapping'), h('vscode-badge', { attrs: { variant: 'counter' } }, state.baseKind === 'onnx' ? 'ONNX' : 'safetensors')),
      h('div', { class: 'subtitle', title: state.base }, `${state.adapters.map(baseName).join(', ')} → ${baseName(state.base)}`),
      h('p', null,
        unmatched ? `${unmatched} adapter module${unmatched === 1 ? '' : 's'} did not match a tensor of the base. ` : '',
        'Choose the base tensor each module changes. Only tensors whose shape fits the module’s delta are offered, the most similar names first; “leave out” merges nothing for that module. ',
        'The choices are saved as ', h('span', { class: 'mono', title: state.mapFile }, baseName(state.mapFile)), ' beside the base — the command-line ', h('span', { class: 'mono' }, 'modelfuse lora'), ' reads the same file.',
      ),
      state.note ? h('p', { class: 'muted note' }, state.note) : null,
      state.errors.length ? h('div', { class: 'inline-error', attrs: { role: 'alert' } }, h('strong', null, 'The merge cannot go ahead with this mapping:'), h('ul', null, ...state.errors.map((e) => h('li', null, e)))) : null,
      h('table', { class: 'data mapping-table' },
        h('thead', null, h('tr', null, h('th', null, 'Adapter module'), h('th', null, 'Delta'), h('th', null, 'Base tensor'), h('th', null, 'Evidence'))),
        h('tbody', null, ...state.rows.map((r) => rowOf(r, choices, updateCounter))),
      ),
      h('div', { class: 'footer-row' }, counter),
      actionsRow(state.busy ? null : () => host.request('saveAndMerge', { choices: { ...choices } }), false, state.busy),
    ),
  );
}

function rowOf(r: ShownMappingRow, choices: MappingChoices, changed: () => void): HTMLElement {
  const status = { matched: 'matched', unmatched: 'not matched', 'left-out': 'left out' }[r.status];
  const select = h('vscode-single-select', { class: 'target-select', attrs: { combobox: true, 'aria-label': `Base tensor for ${r.module}`, 'data-module': r.module } });
  const best = r.candidates[0]?.score ?? 0;
  const unique = best > 0 && (r.candidates[1]?.score ?? -1) < best;
  const options: { value: string; label: string; description: string }[] = [{ value: LEAVE_OUT, label: '(leave out)', description: 'merge nothing for this module' }];
  if (r.target && !r.candidates.some((c) => c.target === r.target)) options.push({ value: r.target, label: r.target, description: 'current pairing' });
  r.candidates.forEach((c, i) => options.push({ value: c.target, label: c.target, description: `${shape(c.shape)} · ${c.note}${i === 0 && unique ? ' · most similar name' : ''}` }));
  for (const o of options) {
    select.appendChild(h('vscode-option', { attrs: { value: o.value, description: o.description, selected: o.value === (r.target ?? LEAVE_OUT) } }, o.label));
  }
  const noChoice = r.kind === 'replace' && r.candidates.length === 0;
  if (noChoice) select.setAttribute('disabled', '');
  select.addEventListener('change', () => {
    const v = (select as unknown as { value: string }).value;
    choices[r.module] = v === LEAVE_OUT ? null : v;
    changed();
  });
  const evidence = r.evidence.length ? r.evidence : ['—'];
  return h('tr', { class: `status-${r.status}` },
    h('td', null, h('div', { class: 'mono' }, r.module), h('div', { class: `muted status status-${r.status}` }, status, r.adapters.length > 1 ? ` · ${r.adapters.length} adapters` : '')),
    h('td', { class: 'mono' }, r.deltaShape ? shape(r.deltaShape) : '—'),
    h('td', { class: 'target-cell' }, select, r.note ? h('div', { class: 'muted' }, r.note) : h('div', { class: 'muted' }, `${r.candidates.length} tensor${r.candidates.length === 1 ? '' : 's'} of this shape`)),
    h('td', null, ...evidence.map((e) => h('div', null, e))),
  );
}

function actionsRow(save: (() => Promise<unknown>) | null, errorPage: boolean, busy: string | null = null): HTMLElement {
  return h('div', { class: 'button-row' },
    errorPage ? null : h('vscode-button', { attrs: { disabled: save === null }, on: { click: () => void save?.().catch(() => undefined) } }, 'Save mapping and merge'),
    h('vscode-button', { attrs: { secondary: true }, on: { click: () => void host.request('cancel', {}) } }, errorPage ? 'Close' : 'Cancel merge'),
    h('vscode-button', { attrs: { secondary: true }, on: { click: () => void host.request('showLog', {}) } }, 'Show log'),
    busy ? h('span', { class: 'busy' }, h('vscode-progress-ring'), busy) : null,
  );
}

function baseName(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}
