/**
 * The parameter-diff panel: summary cards, verification, folds (BN scale and
 * shift per channel), LoRA layers, and a sortable, filterable, virtualised
 * table of every changed tensor with its before/after histogram. It renders
 * what the host sends and never touches files; "Export Markdown" asks the host.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import type { DiffHostSpec, DiffState, DiffWebviewSpec } from '../../extension/protocol/diffWebviewProtocol';
import type { ParamDiffSummary, TensorDiff } from '../../extension/protocol/diffWebviewProtocol';
import { exact, num, shape, shortCount } from '../../shared/format';
import { connectToHost } from '../shared/webviewBase';
import { h, replaceChildren } from '../shared/dom';
import { VirtualTable, type Column } from './virtualTable';
import { charts, foldSection, loraSection, tensorDetail, verifySection } from './sections';

const host = connectToHost<DiffWebviewSpec, DiffHostSpec>();
const root = document.getElementById('root') as HTMLElement;

/** The summary on screen: a state with the same summary only refreshes the verification section (keeps filter, sort and scroll). */
let shownKey: string | null = null;
let verifyHolder: HTMLElement | null = null;

host.on('state', (state) => render(state));

function summaryKey(s: ParamDiffSummary): string {
  return `${s.before.path}\u0000${s.after.path}\u0000${s.changed.length}\u0000${s.unchangedCount}\u0000${s.removed.length}`;
}

function render(state: DiffState): void {
  if (state.phase === 'ready' && verifyHolder && shownKey === summaryKey(state.summary)) {
    replaceChildren(verifyHolder, verifySection(state.verify, reverify));
    return;
  }
  for (const c of charts) c.destroy();
  charts.clear();
  shownKey = null;
  verifyHolder = null;
  switch (state.phase) {
    case 'loading':
      replaceChildren(root,
        h('div', { class: 'loading' }, h('vscode-progress-ring'), h('div', null, h('div', { class: 'loading-title' }, state.title), h('div', { class: 'muted' }, state.message))),
        state.fraction !== null ? h('vscode-progress-bar', { attrs: { value: String(Math.round(state.fraction * 100)), max: '100' } }) : null,
      );
      return;
    case 'error':
      replaceChildren(root,
        h('div', { class: 'error-panel' },
          h('h2', null, state.title),
          h('p', { class: 'error-message' }, state.message),
          h('div', { class: 'button-row' },
            h('vscode-button', { on: { click: () => void call('reload') } }, 'Try again'),
            h('vscode-button', { attrs: { secondary: true }, on: { click: () => void call('showLog') } }, 'Show log'),
          ),
        ));
      return;
    case 'ready': {
      shownKey = summaryKey(state.summary);
      verifyHolder = h('div', null, verifySection(state.verify, reverify));
      replaceChildren(root, page(state.title, state.summary, verifyHolder));
      return;
    }
  }
}

const reverify = (): void => void call('reverify');

async function call(method: 'exportMarkdown' | 'reload' | 'showLog' | 'reverify'): Promise<void> {
  try {
    await host.request(method, {});
  } catch (err) {
    const line = h('p', { class: 'error-message inline-error' }, err instanceof Error ? err.message : String(err));
    root.prepend(line);
    setTimeout(() => line.remove(), 8000);
  }
}

function page(title: string, s: ParamDiffSummary, verify: HTMLElement): HTMLElement {
  const changedParams = s.changed.reduce((n, t) => n + t.elements, 0);
  return h('div', { class: 'diff' },
    h('div', { class: 'title-row' },
      h('h1', null, title),
      h('vscode-button', { attrs: { icon: 'markdown', secondary: true }, on: { click: () => void call('exportMarkdown') } }, 'Export Markdown'),
    ),
    h('div', { class: 'subtitle mono wrap' }, `${s.before.path}  →  ${s.after.path}`),
    h('div', { class: 'cards' },
      card(exact(s.changed.length), 'changed tensors', `${exact(changedParams)} parameters`),
      card(exact(s.unchangedCount), 'unchanged tensors', `${exact(s.unchangedParameters)} parameters, identical bytes`),
      card(exact(s.removed.length), 'removed tensors', s.removed.slice(0, 12).map((r) => r.name).join('\n') + (s.removed.length > 12 ? '\n…' : '')),
      card(shortCount(s.before.parameters), 'parameters before', exact(s.before.parameters)),
      card(shortCount(s.after.parameters), 'parameters after', exact(s.after.parameters)),
    ),
    verify,
    foldSection(s.folds),
    loraSection(s.lora),
    tensorsSection(s),
  );
}

function card(value: string, label: string, title?: string): HTMLElement {
  return h('div', { class: 'card', title }, h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label));
}

function tensorsSection(s: ParamDiffSummary): HTMLElement {
  const columns: Column<TensorDiff>[] = [
    { key: 'name', label: 'Tensor', width: 'minmax(220px, 3fr)', text: (t) => t.name, sortValue: (t) => t.name, title: (t) => (t.beforeName && t.beforeName !== t.name ? `${t.name}\ncopied from ${t.beforeName}` : t.name) },
    { key: 'module', label: 'Module', width: 'minmax(120px, 2fr)', text: (t) => t.module ?? '—', sortValue: (t) => t.module },
    { key: 'shape', label: 'Shape', width: 'minmax(110px, 1.2fr)', text: (t) => shape(t.shape), sortValue: (t) => t.elements, title: (t) => `${shape(t.shape)} (${exact(t.elements)} elements)` },
    { key: 'dtype', label: 'dtype', width: '72px', text: (t) => t.dtype, sortValue: (t) => t.dtype },
    { key: 'before', label: '‖W‖ before', width: '96px', numeric: true, text: (t) => num(t.normBefore), sortValue: (t) => t.normBefore },
    { key: 'after', label: '‖W‖ after', width: '96px', numeric: true, text: (t) => num(t.normAfter), sortValue: (t) => t.normAfter },
    { key: 'delta', label: '‖ΔW‖', width: '96px', numeric: true, text: (t) => num(t.deltaNorm), sortValue: (t) => t.deltaNorm },
    { key: 'rel', label: '‖ΔW‖/‖W‖', width: '96px', numeric: true, text: (t) => num(t.relativeChange), sortValue: (t) => t.relativeChange },
    { key: 'max', label: 'max |ΔW|', width: '96px', numeric: true, text: (t) => num(t.maxAbsDelta), sortValue: (t) => t.maxAbsDelta },
    { key: 'status', label: 'Status', width: '78px', text: (t) => t.status, sortValue: (t) => t.status },
  ];
  const detail = h('div', { class: 'detail-holder' }, h('p', { class: 'muted' }, 'Select a tensor to see its before/after distribution.'));
  const table = new VirtualTable<TensorDiff>({
    columns,
    rowKey: (t) => t.name,
    emptyText: s.changed.length ? 'No tensor matches the filter.' : 'No tensor changed.',
    onSelect: (t) => {
      for (const c of [...charts]) if ((c.canvas as HTMLElement).closest('.detail-holder')) { c.destroy(); charts.delete(c); }
      replaceChildren(detail, tensorDetail(t));
    },
  });
  table.setRows(s.changed);
  table.sortBy('rel', -1);
  const count = h('span', { class: 'muted' });
  const statusSelect = h('vscode-single-select', { attrs: { 'aria-label': 'Status' } },
    h('vscode-option', { attrs: { value: 'all', selected: true } }, 'all'),
    ...(['changed', 'added', 'reshaped'] as const).filter((st) => s.changed.some((t) => t.status === st)).map((st) => h('vscode-option', { attrs: { value: st } }, st)),
  );
  const filterField = h('vscode-textfield', { attrs: { placeholder: 'Filter by tensor or module (space-separated terms)', 'aria-label': 'Filter' } });
  const applyFilter = () => {
    const terms = ((filterField as unknown as { value: string }).value ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const status = (statusSelect as unknown as { value: string }).value || 'all';
    table.setFilter((t) => (status === 'all' || t.status === status) && terms.every((term) => t.name.toLowerCase().includes(term) || (t.module ?? '').toLowerCase().includes(term)));
    count.textContent = `${exact(table.visibleRows.length)} of ${exact(s.changed.length)}`;
  };
  filterField.addEventListener('input', applyFilter);
  statusSelect.addEventListener('change', applyFilter);
  applyFilter();
  const first = table.visibleRows[0];
  if (first) {
    table.select(first.name);
    queueMicrotask(() => replaceChildren(detail, tensorDetail(first)));
  }
  return h('section', null,
    h('h2', null, `Changed tensors (${exact(s.changed.length)})`),
    h('div', { class: 'row filter-row' }, filterField, statusSelect, count),
    table.element,
    detail,
  );
}
