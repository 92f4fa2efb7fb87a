/**
 * The node panel beside the graph: a node's op, module path (with "Go to
 * Python source"), attributes, inputs and outputs with dtype and shape, its
 * sequences, and per weight the Inspector's statistics with a histogram —
 * computed in the worker when the panel opens, never before. A collapsed
 * module shows what it holds and offers to expand it.
 */
import type { NodeDetails, SequenceMark } from '../../extension/protocol/graphMethods';
import type { ParamStats } from '../../extension/protocol/diffMethods';
import { h, replaceChildren } from '../shared/dom';
import { exact, num, shape } from '../../shared/format';

export interface PanelActions {
  goToSource(modules: string[]): void;
  expand(module: string): void;
  selectSequence(id: string): void;
}


export function renderNodePanel(panel: HTMLElement, d: NodeDetails, sequences: SequenceMark[], actions: PanelActions): void {
  const n = d.node;
  replaceChildren(
    panel,
    h('div', { class: 'panel-title' }, h('span', { class: 'pattern' }, n.domain ? `${n.domain}::${n.op}` : n.op), ' ', h('span', { class: 'mono wrap' }, n.id)),
    moduleRow(n.modules.length ? n.modules : n.module ? [n.module] : [], actions),
    sequenceList(sequences, actions),
    section('Attributes', d.attributes.length ? keyValues(d.attributes.map((a) => [a.name, a.value])) : h('div', { class: 'muted' }, 'none')),
    section('Inputs', valueTable(d.inputs)),
    section('Outputs', valueTable(d.outputs)),
    section(`Parameters (${n.params.length})`, n.params.length ? h('div', null, ...n.params.map((p) => paramBlock(p.name, p.source, d.params.find((s) => s.name === p.name), p.dims, p.dtype))) : h('div', { class: 'muted' }, 'none')),
  );
}

export function renderModulePanel(panel: HTMLElement, module: string, nodes: number, sequences: SequenceMark[], actions: PanelActions): void {
  replaceChildren(
    panel,
    h('div', { class: 'panel-title' }, h('span', { class: 'pattern' }, 'module'), ' ', h('span', { class: 'mono wrap' }, module)),
    h('div', { class: 'muted' }, `${exact(nodes)} node${nodes === 1 ? '' : 's'} (collapsed)`),
    h('div', { class: 'button-row' },
      h('vscode-button', { on: { click: () => actions.expand(module) } }, 'Expand'),
      h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.goToSource([module]) } }, 'Go to Python source'),
    ),
    sequenceList(sequences, actions),
  );
}

function moduleRow(modules: string[], actions: PanelActions): HTMLElement {
  if (!modules.length) return h('div', { class: 'muted' }, 'no PyTorch module recovered for this node');
  return h('div', { class: 'module-row' },
    h('span', { class: 'muted' }, 'module '), h('span', { class: 'mono' }, modules.join(' + ')), ' ',
    h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.goToSource(modules) } }, 'Go to Python source'),
  );
}

function sequenceList(sequences: SequenceMark[], actions: PanelActions): HTMLElement | null {
  if (!sequences.length) return null;
  return section('Fusible sequences', h('div', null, ...sequences.map((s) =>
    h('div', { class: `seq-line status ${s.status === 'safe' ? 'ok' : s.status}`, title: s.reason ?? 'folds exactly', on: { click: () => actions.selectSequence(s.id) } },
      h('span', { class: 'pattern' }, s.pattern), ' ', s.label, ' — ', s.status === 'safe' ? 'folds exactly' : s.status === 'grouping' ? 'grouping only' : `blocked: ${s.reason}`),
  )));
}

function section(title: string, body: HTMLElement): HTMLElement {
  return h('div', { class: 'panel-section' }, h('h3', null, title), body);
}

function keyValues(rows: [string, string][]): HTMLElement {
  return h('table', { class: 'data key-value' }, h('tbody', null, ...rows.map(([k, v]) => h('tr', null, h('td', null, k), h('td', { class: 'mono wrap' }, v)))));
}

function valueTable(values: NodeDetails['inputs']): HTMLElement {
  if (!values.length) return h('div', { class: 'muted' }, 'none');
  return keyValues(values.map((v) => [v.name, v.dtype !== null ? `${v.dtype} [${shape(v.shape)}]` : v.shape ? `[${shape(v.shape)}] (inferred; type not declared)` : 'type not declared in the model']));
}

function paramBlock(name: string, source: string, stats: ParamStats | undefined, dims: number[], dtype: string): HTMLElement {
  const head = h('div', { class: 'param-head' }, h('span', { class: 'mono' }, name), h('span', { class: 'muted' }, ` ${dtype} [${shape(dims)}]${source === 'constant' ? ' · Constant' : ''}`));
  if (!stats) return h('div', { class: 'param' }, head, h('div', { class: 'muted' }, 'not numeric'));
  return h('div', { class: 'param' },
    head,
    keyValues([
      ['min / max', `${num(stats.min)} / ${num(stats.max)}`],
      ['mean ± std', `${num(stats.mean)} ± ${num(stats.std)}`],
      ['L2 norm', num(stats.l2)],
      ['zeros', exact(stats.zeros)],
      ...(stats.nonFinite ? [['NaN / Inf', exact(stats.nonFinite)] as [string, string]] : []),
    ]),
    histogram(stats.histogram),
  );
}

/** Bars on a small canvas (the overview bundle does not carry chart.js). */
function histogram(hist: ParamStats['histogram']): HTMLElement {
  const canvas = h('canvas', { class: 'histogram', title: `histogram of ${hist.counts.length} bins from ${num(hist.min)} to ${num(hist.max)}` });
  requestAnimationFrame(() => {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 260;
    const ht = canvas.clientHeight || 60;
    canvas.width = w * dpr;
    canvas.height = ht * dpr;
    const ctx = canvas.getContext('2d')!;
    ctx.scale(dpr, dpr);
    const max = Math.max(1, ...hist.counts);
    const bw = w / Math.max(1, hist.counts.length);
    ctx.fillStyle = getComputedStyle(document.body).getPropertyValue('--vscode-charts-blue').trim() || '#3794ff';
    hist.counts.forEach((c, i) => {
      const bh = (c / max) * (ht - 2);
      ctx.fillRect(i * bw, ht - bh, Math.max(1, bw - 1), bh);
    });
  });
  return h('div', { class: 'histogram-box' }, canvas, h('div', { class: 'muted histogram-axis' }, h('span', null, num(hist.min)), h('span', null, num(hist.max))));
}
