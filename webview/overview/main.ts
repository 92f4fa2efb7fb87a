/**
 * The model overview (custom editor for *.onnx and *.safetensors). It renders
 * whatever state the host sends — loading with progress, the overview, or an
 * error — and turns button clicks into requests; it never touches files.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-divider/index.js';
import type { OverviewHostSpec, OverviewState, OverviewWebviewSpec } from '../../extension/protocol/webviewProtocol';
import { connectToHost, vscodeApi } from '../shared/webviewBase';
import { h, replaceChildren } from '../shared/dom';
import { renderOnnx } from './onnxView';
import { renderSafetensors } from './safetensorsView';
import type { HostActions } from './actions';
import { GraphTab } from '../graph/graphTab';

const host = connectToHost<OverviewWebviewSpec, OverviewHostSpec>();
const root = document.getElementById('root') as HTMLElement;

/** Every request goes through here: failures are shown inline (the host has already logged and notified). */
const actions: HostActions = {
  call: async (method, params) => {
    try {
      await host.request(method, params as never);
    } catch (err) {
      showInlineError(err instanceof Error ? err.message : String(err));
    }
  },
};

host.on('state', (state) => render(state));

/**
 * ONNX models get two tabs: the overview (re-rendered on every state) and the
 * graph, which lives across states (it keeps its zoom, expanded modules and
 * selection) and reloads only when the model or its diff base changes.
 */
const graph = new GraphTab(host, (message) => showInlineError(message));
const overviewPane = h('div', { class: 'tab-pane' });
const graphPane = h('div', { class: 'tab-pane graph-pane' }, graph.element);
type TabId = 'overview' | 'graph';
let activeTab: TabId = 'overview';
let shownOverview: unknown;

function tabBar(): HTMLElement {
  const tab = (id: TabId, label: string) =>
    h('button', { class: `tab${activeTab === id ? ' active' : ''}`, attrs: { role: 'tab', 'aria-selected': activeTab === id ? 'true' : 'false', id: `tab-${id}` }, on: { click: () => selectTab(id) } }, label);
  return h('div', { class: 'tab-bar', attrs: { role: 'tablist' } }, tab('overview', 'Overview'), tab('graph', 'Graph'));
}

function selectTab(id: TabId): void {
  activeTab = id;
  vscodeState.tab = id;
  saveState();
  showTabs();
  if (id === 'graph') void graph.ensureOpen();
}

function showTabs(): void {
  overviewPane.hidden = activeTab !== 'overview';
  graphPane.hidden = activeTab !== 'graph';
  document.body.classList.toggle('graph-active', activeTab === 'graph');
  const bar = root.querySelector('.tab-bar');
  if (bar) bar.replaceWith(tabBar());
}

function render(state: OverviewState): void {
  switch (state.phase) {
    case 'loading':
      replaceChildren(
        root,
        h('div', { class: 'loading' },
          h('vscode-progress-ring'),
          h('div', null, h('div', { class: 'loading-title' }, `Reading ${state.fileName}…`), h('div', { class: 'muted' }, state.progress.message)),
        ),
        state.progress.fraction !== null ? progressBar(state.progress.fraction) : null,
      );
      return;
    case 'error':
      replaceChildren(
        root,
        h('div', { class: 'error-panel' },
          h('h2', null, `Cannot open ${state.fileName}`),
          h('p', { class: 'error-message' }, state.message),
          h('div', { class: 'button-row' },
            h('vscode-button', { on: { click: () => actions.call('reload', {}) } }, 'Try again'),
            h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('reopenWith', { editor: 'text' }) } }, 'Open as Text'),
            h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('reopenWith', { editor: 'choose' }) } }, 'Reopen With…'),
            h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('showLog', {}) } }, 'Show log'),
          ),
          h('p', { class: 'muted' }, 'To see the bytes themselves, open the file in the text editor or, with “Reopen With…”, in another editor such as the Hex Editor.'),
        ),
      );
      return;
    case 'ready': {
      if (state.overview.kind !== 'onnx') {
        replaceChildren(root, renderSafetensors(state.overview));
        return;
      }
      replaceChildren(overviewPane, renderOnnx(state.overview, state.actions, actions));
      const overviewKey = state.overview.file.path + state.overview.nodeCount + JSON.stringify(state.overview.candidates.map((c) => c.id));
      const changed = shownOverview !== undefined && shownOverview !== overviewKey;
      shownOverview = overviewKey;
      if (state.graph?.show && !graphShownOnce) {
        graphShownOnce = true;
        activeTab = 'graph';
      }
      if (!root.contains(graphPane)) replaceChildren(root, tabBar(), overviewPane, graphPane);
      showTabs();
      graph.update(state.graph ?? { diffBase: null, show: false }, changed);
      return;
    }
  }
}

let graphShownOnce = false;
/** The tab survives VS Code recreating the hidden webview. */
const vscodeState: { tab?: TabId } = (vscodeApi().getState() as { tab?: TabId } | undefined) ?? {};
if (vscodeState.tab === 'graph') activeTab = 'graph';
function saveState(): void {
  vscodeApi().setState(vscodeState);
}

function progressBar(fraction: number): HTMLElement {
  const bar = h('vscode-progress-bar');
  (bar as unknown as { value: number; max: number }).max = 1;
  (bar as unknown as { value: number }).value = Math.max(0, Math.min(1, fraction));
  return bar;
}

function showInlineError(message: string): void {
  const existing = document.getElementById('inline-error');
  const box = h('div', { class: 'inline-error', attrs: { role: 'alert', id: 'inline-error' } }, message);
  if (existing) existing.replaceWith(box);
  else root.prepend(box);
}
