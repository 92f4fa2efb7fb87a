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
import { connectToHost } from '../shared/webviewBase';
import { h, replaceChildren } from '../shared/dom';
import { renderOnnx } from './onnxView';
import { renderSafetensors } from './safetensorsView';
import type { HostActions } from './actions';

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
            h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('showLog', {}) } }, 'Show log'),
          ),
        ),
      );
      return;
    case 'ready': {
      const view = state.overview.kind === 'onnx' ? renderOnnx(state.overview, state.actions, actions) : renderSafetensors(state.overview);
      replaceChildren(root, view);
      return;
    }
  }
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
