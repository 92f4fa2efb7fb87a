/** The tensor view of a .safetensors file: header, metadata, dtype totals, and a filterable tensor table. */
import type { SafetensorsOverview, SafetensorsTensorSummary } from '../../extension/protocol/modelOverview';
import { h, replaceChildren } from '../shared/dom';
import { bytes, exact, shape, shortCount } from '../../shared/format';
import { section } from './onnxView';

/** Rows rendered at once; a multi-thousand-tensor checkpoint is narrowed with the filter instead of building 10 000 DOM rows. */
const ROW_LIMIT = 500;

export function renderSafetensors(o: SafetensorsOverview): HTMLElement {
  const body = h('tbody');
  const note = h('p', { class: 'muted' });
  const filter = h('vscode-textfield', { attrs: { placeholder: 'Filter tensors by name (substring or /regex/)', 'aria-label': 'Filter tensors' }, class: 'filter' });
  const refresh = () => fillRows(body, note, o.tensors, (filter as unknown as { value: string }).value ?? '');
  filter.addEventListener('input', refresh);
  refresh();

  const meta = Object.entries(o.metadata);
  return h('main', { class: 'overview' },
    h('header', { class: 'title-row' },
      h('h1', { title: o.file.path }, o.file.name),
      h('vscode-badge', { attrs: { variant: 'counter' } }, 'safetensors'),
      o.loraAdapter ? h('vscode-badge', { attrs: { variant: 'counter' } }, 'LoRA adapter') : null,
    ),
    h('div', { class: 'subtitle' },
      `${exact(o.parameters.tensors)} tensors · ${shortCount(o.parameters.count)} parameters · ${bytes(o.parameters.bytes)}`,
      o.dtypes.length ? ` · ${o.dtypes.map((d) => `${d.dtype} ${shortCount(d.count)}`).join(', ')}` : '',
    ),
    o.loraAdapter
      ? h('p', { class: 'banner' }, `LoRA adapter: ${o.loraAdapter.layers} adapted layers, rank ${o.loraAdapter.ranks.join('/')}. Merge it into a base model with “ModelFuse: Merge LoRA Adapter…”.`)
      : null,
    meta.length
      ? section('Metadata', h('table', { class: 'data key-value' }, h('tbody', null, ...meta.map(([k, v]) => h('tr', null, h('td', { class: 'mono' }, k), h('td', { class: 'mono wrap' }, v))))))
      : null,
    section('Tensors', filter, note,
      h('table', { class: 'data' },
        h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Type'), h('th', null, 'Shape'), h('th', { class: 'num' }, 'Parameters'), h('th', { class: 'num' }, 'Bytes'))),
        body,
      ),
    ),
  );
}

function fillRows(body: HTMLElement, note: HTMLElement, tensors: SafetensorsTensorSummary[], query: string): void {
  const match = matcher(query.trim());
  const hits = tensors.filter((t) => match(t.name));
  const shown = hits.slice(0, ROW_LIMIT);
  replaceChildren(body, ...shown.map((t) =>
    h('tr', null,
      h('td', { class: 'mono' }, t.name),
      h('td', null, t.dtype),
      h('td', { class: 'mono' }, shape(t.shape)),
      h('td', { class: 'num', title: exact(t.count) }, shortCount(t.count)),
      h('td', { class: 'num', title: `${exact(t.bytes)} bytes` }, bytes(t.bytes)),
    ),
  ));
  note.textContent = hits.length > shown.length
    ? `Showing ${shown.length} of ${exact(hits.length)} matching tensors; narrow the filter to see the rest.`
    : `${exact(hits.length)} of ${exact(tensors.length)} tensors`;
}

/** `/re/` is a case-insensitive regular expression (an invalid one matches nothing); anything else a substring. */
function matcher(query: string): (name: string) => boolean {
  if (query.length > 2 && query.startsWith('/') && query.endsWith('/')) {
    try {
      const re = new RegExp(query.slice(1, -1), 'i');
      return (n) => re.test(n);
    } catch {
      return () => false;
    }
  }
  const q = query.toLowerCase();
  return (n) => n.toLowerCase().includes(q);
}
