/**
 * The sections of the diff panel, each a function from data to DOM: the
 * verification result, the per-channel BN scale/shift of folds, the LoRA
 * layers, and a tensor's before/after histogram.
 */
import type { Chart } from 'chart.js';
import type { VerifyState } from '../../extension/protocol/diffWebviewProtocol';
import type { FoldSummary, LoraLayerStats, TensorDiff } from '../../extension/protocol/diffWebviewProtocol';
import { num, shape } from '../../shared/format';
import { h } from '../shared/dom';
import { themedChart, withAlpha } from './charts';

/** Charts of the current render, destroyed before the next one. */
export const charts = new Set<Chart>();

function canvasBox(cls = 'chart-box'): { box: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = h('canvas');
  return { box: h('div', { class: cls }, canvas), canvas };
}

const VERDICT_LABEL = { verified: 'PASSED', weak: 'WEAK CHECK', failed: 'FAILED' } as const;

/** The verification: verdict, the inputs it ran on and how their sizes were chosen, why a pass is weak, per-output numbers, latency. */
export function verifySection(v: VerifyState, onReverify: () => void): HTMLElement {
  const reverify = h('vscode-button', { attrs: { secondary: true, icon: 'debug-rerun', title: 'Choose shapes, a seed or an inputs file (.safetensors / .npy) and verify again' }, on: { click: onReverify } }, 'Re-verify with…');
  switch (v.status) {
    case 'none':
      return h('section', { class: 'verify' }, h('h2', null, 'Verification'), h('p', { class: 'muted' }, v.reason), v.canRun ? reverify : null);
    case 'running':
      return h('section', { class: 'verify' }, h('h2', null, 'Verification'), h('div', { class: 'loading-inline' }, h('vscode-progress-ring'), h('span', null, v.message)));
    case 'failed':
      return h('section', { class: 'verify' }, h('h2', null, 'Verification'), h('p', { class: 'error-message' }, v.message), reverify);
    case 'done': {
      const r = v.report;
      const rows = Object.entries(r.outputs).map(([name, o]) =>
        h('tr', { class: o.passed ? '' : 'row-failed' },
          h('td', { class: 'mono' }, name),
          h('td', { class: 'mono' }, `${o.dtype}[${o.shape.join(', ')}]`),
          h('td', { class: 'num' }, num(o.max_abs)),
          h('td', { class: 'num' }, num(o.mean_abs)),
          h('td', { class: 'num' }, num(o.p99_abs)),
          h('td', { class: 'num' }, num(o.max_rel)),
          h('td', { class: 'num' }, o.cosine === null ? '—' : o.cosine.toFixed(9)),
          h('td', { class: 'num' }, `${o.mismatched} / ${o.elements}`),
          h('td', { class: o.passed ? 'status ok' : 'status blocked', title: o.reason }, o.passed ? 'pass' : `fail${o.reason ? `: ${o.reason}` : ''}`),
        ));
      const l = r.latency_ms;
      const words = v.words;
      const verdict = words.verdict;
      return h('section', { class: 'verify' },
        h('div', { class: 'title-row' },
          h('h2', null, 'Verification ', h('span', { class: `verdict ${verdict === 'verified' ? 'pass' : verdict === 'weak' ? 'weak' : 'fail'}` }, VERDICT_LABEL[verdict])),
          reverify,
        ),
        verdict === 'weak' ? h('p', { class: 'weak-reason' }, `The outputs agree, but this proves little: ${words.weak}. Choose other inputs with “Re-verify with…”.`) : null,
        h('p', { class: 'verify-inputs' }, h('span', { class: 'muted' }, 'Inputs: '), h('span', { class: 'mono' }, words.inputs)),
        ...words.shapeChoices.map((line) => h('p', { class: 'muted mono small' }, line)),
        h('p', { class: 'muted' }, `Both models run in ONNX Runtime with graph optimizations off; tolerance |Δ| ≤ ${r.tolerance.atol} + ${r.tolerance.rtol}·|before|.`),
        h('table', { class: 'data' },
          h('thead', null, h('tr', null, ...['Output', 'Type', 'max |Δ|', 'mean |Δ|', 'p99 |Δ|', 'max rel', 'cosine', 'mismatched', 'Result'].map((x, i) => h('th', { class: i >= 2 && i <= 7 ? 'num' : '' }, x)))),
          h('tbody', null, ...rows),
        ),
        l
          ? h('div', { class: 'cards latency' },
            latencyCard('before', l.a.disabled, l.a.all),
            latencyCard('after', l.b.disabled, l.b.all),
            h('div', { class: 'card' }, h('div', { class: 'card-value' }, `${l.b.all <= l.a.all ? '−' : '+'}${num(Math.abs(l.b.all / l.a.all - 1) * 100, 3)} %`), h('div', { class: 'card-label' }, `latency change, median of ${l.runs} runs (ORT all optimizations)`)),
          )
          : null,
      );
    }
  }
}

function latencyCard(label: string, disabled: number, all: number): HTMLElement {
  return h('div', { class: 'card' }, h('div', { class: 'card-value' }, `${num(all, 3)} ms`), h('div', { class: 'card-label' }, `${label}: median run (${num(disabled, 3)} ms without ORT optimizations)`));
}

/** Per-output-channel scale γ/√(σ²+ε) (bars) and shift β − μ·scale (line) of one fold, with a fold selector. */
export function foldSection(folds: FoldSummary[]): HTMLElement | null {
  const withChannels = folds.filter((f) => f.channels);
  if (withChannels.length === 0) {
    if (folds.length === 0) return null;
    return h('section', null, h('h2', null, `Folds (${folds.length})`), foldTable(folds));
  }
  const { box, canvas } = canvasBox();
  let chart: Chart | undefined;
  const draw = (fold: FoldSummary) => {
    chart?.destroy();
    if (chart) charts.delete(chart);
    const c = fold.channels!;
    chart = themedChart(canvas, (t) => ({
      type: 'bar',
      data: {
        labels: c.scale.map((_, i) => String(i)),
        datasets: [
          { type: 'bar', label: 'scale γ/√(σ²+ε)', data: c.scale, backgroundColor: withAlpha(t.before, 0.75), yAxisID: 'y', order: 2 },
          { type: 'line', label: 'shift β − μ·scale', data: c.shift, borderColor: t.after, backgroundColor: t.after, pointRadius: c.shift.length > 64 ? 0 : 2, borderWidth: 1.5, yAxisID: 'y1', order: 1 },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { title: (items) => `output channel ${items[0]?.label}` } } },
        scales: {
          x: { title: { display: true, text: 'output channel' }, ticks: { maxTicksLimit: 16 }, grid: { display: false } },
          y: { title: { display: true, text: 'scale' }, grid: { color: t.grid } },
          y1: { position: 'right', title: { display: true, text: 'shift' }, grid: { display: false } },
        },
      },
    }));
    charts.add(chart);
    caption.textContent = `${fold.channels!.bnNode} folded into ${fold.nodes[0]} — ${c.scale.length} channels, ε = ${num(c.epsilon, 3)}; W′ = W·scale, b′ = b·scale + shift`;
  };
  const caption = h('p', { class: 'muted' });
  const select = h('vscode-single-select', { attrs: { 'aria-label': 'Fold' } },
    ...withChannels.map((f, i) => h('vscode-option', { attrs: { value: f.id, selected: i === 0 } }, `${f.modules.filter((m) => m).join(' + ') || f.nodes.join(' + ')}  (${f.pattern})`)));
  select.addEventListener('change', () => {
    const f = withChannels.find((x) => x.id === (select as unknown as { value: string }).value);
    if (f) draw(f);
  });
  queueMicrotask(() => draw(withChannels[0]));
  return h('section', null,
    h('h2', null, `Folds (${folds.length})`),
    h('div', { class: 'row' }, h('label', { class: 'muted' }, 'BatchNorm folded per output channel:'), select),
    caption,
    box,
    foldTable(folds),
  );
}

function foldTable(folds: FoldSummary[]): HTMLElement {
  return h('table', { class: 'data compact' },
    h('thead', null, h('tr', null, ...['Fold', 'Pattern', 'Modules', 'Removed nodes', 'Changed tensors'].map((x) => h('th', null, x)))),
    h('tbody', null, ...folds.map((f) => h('tr', null,
      h('td', { class: 'mono' }, f.id), h('td', null, h('span', { class: 'pattern' }, f.pattern)),
      h('td', { class: 'mono' }, f.modules.filter((m) => m).join(', ') || '—'),
      h('td', { class: 'mono' }, f.removedNodes.join(', ') || '—'),
      h('td', { class: 'mono' }, f.tensors.join(', ')),
    ))),
  );
}

export function loraSection(layers: LoraLayerStats[]): HTMLElement | null {
  if (layers.length === 0) return null;
  const { box, canvas } = canvasBox();
  queueMicrotask(() => {
    charts.add(themedChart(canvas, (t) => ({
      type: 'bar',
      data: {
        labels: layers.map((l) => l.module ?? l.target),
        datasets: [{ label: '‖ΔW‖ / ‖W‖', data: layers.map((l) => l.relativeChange ?? 0), backgroundColor: withAlpha(t.accent, 0.8) }],
      },
      options: {
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => `relative change ${num(item.parsed.y as number)}` } } },
        scales: { x: { ticks: { autoSkip: true, maxRotation: 60 }, grid: { display: false } }, y: { title: { display: true, text: '‖ΔW‖ / ‖W‖' }, grid: { color: t.grid } } },
      },
    })));
  });
  return h('section', null,
    h('h2', null, `LoRA layers (${layers.length})`),
    h('p', { class: 'muted' }, 'Relative change of each merged weight; the rank of ΔW is computed from its singular values and must not exceed the adapter rank r.'),
    box,
    h('table', { class: 'data compact' },
      h('thead', null, h('tr', null, ...['Target', 'Adapter keys', 'r', 'scale', '‖ΔW‖/‖W‖', 'rank of ΔW', 'σ₁ … σ₄'].map((x, i) => h('th', { class: i >= 2 && i <= 5 ? 'num' : '' }, x)))),
      h('tbody', null, ...layers.map((l) => {
        const er = l.effectiveRank;
        const over = er && er.rank > l.rank;
        return h('tr', null,
          h('td', { class: 'mono' }, l.target),
          h('td', { class: 'mono small' }, l.keys.join('\n')),
          h('td', { class: 'num' }, String(l.rank)),
          h('td', { class: 'num' }, num(l.scale)),
          h('td', { class: 'num' }, num(l.relativeChange)),
          h('td', { class: `num${over ? ' warning-text' : ''}`, title: er ? `${er.method} SVD of ΔW as [${er.matrix.join(' × ')}], tolerance ${num(er.tolerance)}` : undefined }, er ? `${er.rank}${over ? ' > r' : ''}` : '—'),
          h('td', { class: 'mono small' }, er ? er.singularValues.slice(0, 4).map((s) => num(s, 3)).join('  ') : '—'),
        );
      })),
    ),
  );
}

/** Before/after value distributions of one tensor on their shared bins. */
export function tensorDetail(t: TensorDiff): HTMLElement {
  const { box, canvas } = canvasBox('chart-box small');
  const hg = t.histogram;
  const bins = hg.before.length;
  const width = (hg.max - hg.min) / bins;
  const labels = hg.before.map((_, i) => num(hg.min + (i + 0.5) * width, 3));
  queueMicrotask(() => {
    charts.add(themedChart(canvas, (th) => ({
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: t.status === 'added' ? 'before (absent: zeros)' : 'before', data: hg.before, backgroundColor: withAlpha(th.before, 0.55), borderColor: th.before, borderWidth: 1, barPercentage: 1, categoryPercentage: 1, grouped: false },
          { label: 'after', data: hg.after, backgroundColor: withAlpha(th.after, 0.45), borderColor: th.after, borderWidth: 1, barPercentage: 1, categoryPercentage: 1, grouped: false },
        ],
      },
      options: {
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { title: (items) => `bin ${items[0]?.dataIndex}: [${num(hg.min + (items[0]?.dataIndex ?? 0) * width)}, ${num(hg.min + ((items[0]?.dataIndex ?? 0) + 1) * width)})` } } },
        scales: { x: { title: { display: true, text: 'value' }, ticks: { maxTicksLimit: 9 }, grid: { display: false } }, y: { title: { display: true, text: 'count' }, grid: { color: th.grid } } },
      },
    })));
  });
  const facts: [string, string][] = [
    ['Module', t.module ?? '—'],
    ['Shape', `${t.dtype} ${shape(t.shape)}${t.shapeBefore ? ` (was ${shape(t.shapeBefore)})` : ''}`],
    ['‖W‖ before → after', `${num(t.normBefore, 6)} → ${num(t.normAfter, 6)}`],
    ['‖ΔW‖, relative', `${num(t.deltaNorm, 6)}, ${num(t.relativeChange, 6)}`],
    ['max |ΔW|', num(t.maxAbsDelta, 6)],
  ];
  if (t.beforeName && t.beforeName !== t.name) facts.push(['Copied from', t.beforeName]);
  if (hg.nonFiniteBefore || hg.nonFiniteAfter) facts.push(['NaN / Inf', `${hg.nonFiniteBefore} before, ${hg.nonFiniteAfter} after`]);
  return h('div', { class: 'tensor-detail' },
    h('h3', { class: 'mono' }, t.name),
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, v)])),
    box,
  );
}
