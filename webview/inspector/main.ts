/**
 * The inspector (a narrow webview view in the ModelFuse side panel): one
 * block per parameter of the selected module, with its statistics and a
 * histogram. Renders the state the host sends.
 */
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import type { Chart } from 'chart.js';
import type { InspectorHostSpec, InspectorState, InspectorWebviewSpec } from '../../extension/protocol/diffWebviewProtocol';
import type { ParamStats } from '../../extension/protocol/diffWebviewProtocol';
import { exact, num, shape } from '../../shared/format';
import { connectToHost } from '../shared/webviewBase';
import { h, replaceChildren } from '../shared/dom';
import { themedChart, withAlpha } from '../diff/charts';

document.body.classList.add('inspector');
const host = connectToHost<InspectorWebviewSpec, InspectorHostSpec>();
const root = document.getElementById('root') as HTMLElement;
const charts = new Set<Chart>();

host.on('state', (state) => render(state));

function render(state: InspectorState): void {
  for (const c of charts) c.destroy();
  charts.clear();
  switch (state.phase) {
    case 'empty':
      replaceChildren(root, h('p', { class: 'muted' }, state.message));
      return;
    case 'loading':
      replaceChildren(root, h('div', { class: 'loading-inline' }, h('vscode-progress-ring'), h('span', null, `Reading ${state.module || 'the model'} in ${state.file}…`)));
      return;
    case 'error':
      replaceChildren(root, h('h2', { class: 'mono' }, state.module || '(model)'), h('p', { class: 'error-message' }, state.message));
      return;
    case 'ready': {
      const i = state.inspection;
      replaceChildren(root,
        h('h2', { class: 'mono', title: i.path }, i.module || '(tensors of no module)'),
        h('p', { class: 'muted' }, `${exact(i.parameters)} parameters in ${i.tensors.length + i.omitted} tensors${i.omitted ? ` (first ${i.tensors.length} shown)` : ''} · ${state.file}`),
        i.tensors.length === 0 ? h('p', { class: 'muted' }, 'This module holds no parameters of its own (its operators have no initializers).') : null,
        ...i.tensors.map(tensorBlock),
      );
      return;
    }
  }
}

function tensorBlock(t: ParamStats): HTMLElement {
  const canvas = h('canvas');
  const hg = t.histogram;
  const width = (hg.max - hg.min) / hg.counts.length;
  queueMicrotask(() => {
    charts.add(themedChart(canvas, (th) => ({
      type: 'bar',
      data: { labels: hg.counts.map((_, k) => num(hg.min + (k + 0.5) * width, 3)), datasets: [{ label: 'count', data: hg.counts, backgroundColor: withAlpha(th.before, 0.7), barPercentage: 1, categoryPercentage: 1 }] },
      options: {
        plugins: { legend: { display: false } },
        scales: { x: { ticks: { maxTicksLimit: 5, maxRotation: 0 }, grid: { display: false } }, y: { ticks: { maxTicksLimit: 4 }, grid: { color: th.grid } } },
      },
    })));
  });
  const facts: [string, string][] = [
    ['shape', `${t.dtype} ${shape(t.shape)}`],
    ['range', t.min === null ? '—' : `${num(t.min)} … ${num(t.max)}`],
    ['mean ± std', t.mean === null ? '—' : `${num(t.mean)} ± ${num(t.std)}`],
    ['‖W‖₂', num(t.l2)],
    ['zeros', `${exact(t.zeros)} of ${exact(t.elements)}`],
  ];
  if (t.nonFinite) facts.push(['NaN / Inf', exact(t.nonFinite)]);
  if (t.module) facts.push(['module', t.module]);
  return h('div', { class: 'tensor' },
    h('div', { class: 'mono', title: t.name }, t.name),
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, v)])),
    h('div', { class: 'chart-box' }, canvas),
  );
}
