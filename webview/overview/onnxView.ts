/** The overview of an ONNX model: header, summary, inputs/outputs, fusible sequences, operator histogram. */
import type { CandidateView, OnnxOverview, ValueSummary } from '../../extension/protocol/modelOverview';
import type { OverviewActions } from '../../extension/protocol/webviewProtocol';
import { h, type Child } from '../shared/dom';
import { bytes, exact, shape, shortCount } from '../../shared/format';
import type { HostActions } from './actions';

export function renderOnnx(o: OnnxOverview, state: OverviewActions, actions: HostActions): HTMLElement {
  const defaultOpset = o.opsets.find((s) => s.domain === 'ai.onnx')?.version;
  const producer = [o.producer.name, o.producer.version].filter(Boolean).join(' ') || 'unknown producer';
  return h('main', { class: 'overview' },
    h('header', { class: 'title-row' },
      h('h1', { title: o.file.path }, o.file.name),
      h('vscode-badge', { attrs: { variant: 'counter' } }, 'ONNX'),
    ),
    h('div', { class: 'subtitle' },
      `${producer} · IR ${o.irVersion} · opset ${defaultOpset ?? '—'}`,
      o.opsets.length > 1 ? ` (+ ${o.opsets.filter((s) => s.domain !== 'ai.onnx').map((s) => `${s.domain} ${s.version}`).join(', ')})` : '',
      o.graphName ? ` · graph “${o.graphName}”` : '',
    ),
    summaryCards([
      [o.parameters.constantNodeTensors ? `Parameters · ${exact(o.parameters.constantNodeTensors)} in Constant nodes` : 'Parameters', shortCount(o.parameters.count), `${exact(o.parameters.count)} elements in ${exact(o.parameters.tensors)} tensors${o.parameters.constantNodeTensors ? ` (${exact(o.parameters.constantNodeTensors)} of them in Constant nodes)` : ''}`],
      ['Weights', bytes(o.parameters.bytes), `${exact(o.parameters.bytes)} bytes${o.parameters.externalBytes ? `, ${bytes(o.parameters.externalBytes)} in external data` : ''}`],
      ['Nodes', exact(o.nodeCount), `${o.operators.length} operator types`],
      ['Fusible', String(o.candidates.filter((c) => c.fusibility.fusible).length), `${o.candidates.length} sequences found, ${o.candidates.filter((c) => c.fusibility.fusible).length} can be folded`],
      ['File', bytes(o.file.bytes), `${exact(o.file.bytes)} bytes on disk`],
    ]),
    section('Fusible sequences', sequencesSection(o, state, actions)),
    h('div', { class: 'two-columns' },
      section('Inputs', valueTable(o.inputs)),
      section('Outputs', valueTable(o.outputs)),
    ),
    section(`Operators (${o.operators.length})`, operatorHistogram(o)),
  );
}

function summaryCards(cards: [label: string, value: string, title: string][]): HTMLElement {
  return h('div', { class: 'cards' }, ...cards.map(([label, value, title]) => h('div', { class: 'card', title }, h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label))));
}

export function section(title: string, ...body: Child[]): HTMLElement {
  return h('section', null, h('h2', null, title), ...body);
}

function valueTable(values: ValueSummary[]): HTMLElement {
  if (values.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'data' },
    h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Type'), h('th', null, 'Shape'))),
    h('tbody', null, ...values.map((v) => h('tr', null, h('td', { class: 'mono' }, v.name), h('td', null, v.dtype), h('td', { class: 'mono' }, shape(v.shape))))),
  );
}

function operatorHistogram(o: OnnxOverview): HTMLElement {
  const max = Math.max(1, ...o.operators.map((x) => x.count));
  return h('div', { class: 'histogram' },
    ...o.operators.map((x) =>
      h('div', { class: 'bar-row', title: `${x.op}: ${x.count} node${x.count === 1 ? '' : 's'}` },
        h('span', { class: 'bar-label mono' }, x.op),
        h('span', { class: 'bar-track' }, h('span', { class: 'bar', style: { width: `${(100 * x.count) / max}%` } })),
        h('span', { class: 'bar-count' }, String(x.count)),
      ),
    ),
  );
}

function sequencesSection(o: OnnxOverview, state: OverviewActions, actions: HostActions): HTMLElement {
  if (o.scanProblem) return h('p', { class: 'warning-text' }, `The scan for fusible sequences failed: ${o.scanProblem}`);
  if (o.candidates.length === 0) return h('p', { class: 'muted' }, 'No fusible sequences: nothing in this graph matches conv+bn, conv+bn+relu, linear+bn, conv+add/mul or matmul+add.');

  const disabled = state.busy !== null || state.fuseDisabledReason !== null;
  const selected = new Set<string>();
  const fusible = o.candidates.filter((c) => c.fusibility.fusible);
  const fuseSelectedButton = h('vscode-button', { attrs: { disabled: true }, on: { click: () => actions.call('fuse', { candidateIds: [...selected] }) } }, 'Fuse selected');
  const refreshSelection = () => {
    fuseSelectedButton.textContent = selected.size ? `Fuse selected (${selected.size})` : 'Fuse selected';
    fuseSelectedButton.toggleAttribute('disabled', disabled || selected.size === 0);
  };

  const rows = o.candidates.map((c) => candidateRow(c, disabled, actions, (on) => {
    if (on) selected.add(c.id);
    else selected.delete(c.id);
    refreshSelection();
  }));

  return h('div', null,
    state.fuseDisabledReason ? h('div', { class: 'banner' }, state.fuseDisabledReason) : null,
    state.busy ? h('div', { class: 'banner busy' }, h('vscode-progress-ring', { class: 'small' }), state.busy) : null,
    h('div', { class: 'button-row' },
      fuseSelectedButton,
      h('vscode-button', { attrs: { disabled: disabled || fusible.length === 0 }, on: { click: () => actions.call('fuseAllSafe', {}) } }, `Fuse all safe (${fusible.length})`),
      h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('copyFuseList', {}) } }, 'Copy PyTorch fuse list'),
    ),
    pythonDefinitionNote(o, state, actions),
    h('table', { class: 'data sequences' },
      h('thead', null, h('tr', null, h('th', { class: 'check' }, ''), h('th', null, 'Pattern'), h('th', null, 'Modules'), h('th', null, 'Status'), h('th', null, ''))),
      h('tbody', null, ...rows),
    ),
  );
}

/**
 * The exporter folded BatchNorms into Convs and named neither: the model's Python definition names them
 * (the rows say why each is unnamed). Once one is in use, which file it is, and a way to change it.
 */
function pythonDefinitionNote(o: OnnxOverview, state: OverviewActions, actions: HostActions): HTMLElement | null {
  const folded = o.candidates.filter((c) => c.details?.foldedByExporter);
  const unnamed = folded.filter((c) => c.details?.unnamedBatchNorm).length;
  if (state.namedFrom === null && unnamed === 0) return null;
  const choose = (label: string) => h('vscode-button', { attrs: { secondary: true }, on: { click: () => actions.call('choosePythonDefinition', {}) } }, label);
  if (state.namedFrom === null) {
    return h('div', { class: 'banner python-definition' },
      `The exporter folded ${unnamed} BatchNorm${unnamed === 1 ? '' : 's'} into Convs without naming ${unnamed === 1 ? 'it' : 'them'}; the model's Python definition names them for fuse_modules. `,
      choose('Name from Python definition…'),
    );
  }
  const named = `${folded.length - unnamed} of ${folded.length} folded BatchNorms named`;
  return h('div', { class: 'banner python-definition' }, `Module names from ${state.namedFrom} (${named}). `, choose('Change…'));
}

function candidateRow(c: CandidateView, disabled: boolean, actions: HostActions, onToggle: (on: boolean) => void): HTMLElement {
  const reason = c.fusibility.reason;
  const checkbox = h('vscode-checkbox', { attrs: { disabled: disabled || reason !== null, 'aria-label': `Select ${c.pattern} ${c.label}` } });
  checkbox.addEventListener('change', () => onToggle((checkbox as unknown as { checked: boolean }).checked));
  const status: Child[] = [];
  if (c.blocked !== null) status.push(h('span', { class: 'status blocked', title: c.blocked }, `Blocked: ${c.blocked}`));
  else if (!c.folds) status.push(h('span', { class: 'status grouping', title: reason ?? '' }, 'Grouping only (PyTorch)'));
  else status.push(h('span', { class: 'status ok' }, 'Folds exactly'));
  const lora = c.loraFacts;
  if (lora.length) status.push(h('div', { class: 'status muted' }, `LoRA ${lora.join(' · ')}`));
  for (const w of c.warnings) status.push(h('div', { class: 'status warning', title: w.text }, `⚠ ${w.gist}`));
  const nodes = c.nodes.join(', ');
  return h('tr', { class: c.blocked !== null ? 'row-blocked' : '' },
    h('td', { class: 'check' }, checkbox),
    h('td', null, h('span', { class: 'pattern' }, c.pattern)),
    h('td', { class: 'mono', title: `nodes: ${nodes}` }, c.label),
    h('td', null, ...status),
    h('td', { class: 'row-action' },
      reason === null ? h('vscode-button', { attrs: { disabled, secondary: true }, on: { click: () => actions.call('fuse', { candidateIds: [c.id] }) } }, 'Fuse') : null,
      h('vscode-button', { attrs: { secondary: true, title: 'Show in the ModelFuse side panel' }, on: { click: () => actions.call('reveal', { candidateId: c.id }) } }, 'Reveal'),
    ),
  );
}

