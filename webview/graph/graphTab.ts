/**
 * The Graph tab of the model editor: the dataflow graph collapsed by PyTorch
 * module (double-click a module to open it, its frame's title to close it),
 * fusible sequences outlined by status, the node panel, find (Ctrl+F), the
 * sequence selection shared with the side panel and "Fuse selected modules",
 * and — when the model is compared with another — diff mode and "Locate
 * drift". The worker lays out; this draws and asks for what it shows.
 */
import type { OverviewHostSpec, OverviewWebviewSpec, MessagePeer, GraphTabState } from '../../extension/protocol/webviewProtocol';
import type { DriftReport, GraphCatalog, GraphDiffResult, NodeChange, SequenceMark, VisibleItem } from '../../extension/protocol/graphMethods';
import { h, replaceChildren } from '../shared/dom';
import { withAlpha } from '../shared/color';
import { boxOf, CanvasView, unionOf, type Outline } from './canvasView';
import { DrawnGraph, findNodes, modulesToReveal, subtreeOf } from './graphModel';
import { renderModulePanel, renderNodePanel, type PanelActions } from './nodePanel';
import { num } from '../../shared/format';

type Host = MessagePeer<OverviewWebviewSpec, OverviewHostSpec>;
type Side = 'after' | 'before';

const STATUS_COLOR: Record<SequenceMark['status'], string> = { safe: '--vscode-charts-green', grouping: '--vscode-charts-blue', blocked: '--vscode-charts-red' };

export class GraphTab {
  readonly element: HTMLElement;
  private readonly canvasHost: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly status: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly tooltip: HTMLElement;
  private readonly menu: HTMLElement;
  private readonly findInput: HTMLInputElement;
  private readonly view: CanvasView;
  private catalogs: Partial<Record<Side, GraphCatalog>> = {};
  private drawn: DrawnGraph | undefined;
  private expanded: Record<Side, Set<string>> = { after: new Set(), before: new Set() };
  private side: Side = 'after';
  private selection = new Set<string>();
  private matches: string[] = [];
  private matchIndex = -1;
  private highlighted: string | undefined;
  private request = 0;
  private diff: GraphDiffResult | null = null;
  private drift: DriftReport | null = null;
  private tabState: GraphTabState = { diffBase: null, show: false };
  private opened = false;

  constructor(private readonly host: Host, private readonly onError: (message: string) => void) {
    this.findInput = h('input', { class: 'find-input', attrs: { type: 'text', placeholder: 'Find node, module or op type (Ctrl+F)', 'aria-label': 'Find in graph' } }) as HTMLInputElement;
    this.findInput.addEventListener('input', () => this.find(this.findInput.value));
    this.findInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void this.nextMatch(e.shiftKey ? -1 : 1);
      if (e.key === 'Escape') this.find('');
    });
    this.status = h('span', { class: 'muted graph-status' });
    this.toolbar = h('div', { class: 'graph-toolbar' });
    this.canvasHost = h('div', { class: 'graph-canvas-host' });
    this.panel = h('div', { class: 'graph-panel' }, h('div', { class: 'muted' }, 'Click a node for its attributes, shapes and weights; double-click a module to open it.'));
    this.tooltip = h('div', { class: 'graph-tooltip', attrs: { role: 'tooltip' } });
    this.menu = h('div', { class: 'graph-menu', attrs: { role: 'menu' } });
    this.element = h('div', { class: 'graph-tab' }, this.toolbar, h('div', { class: 'graph-body' }, this.canvasHost, this.panel), this.tooltip, this.menu);
    this.view = new CanvasView(this.canvasHost, {
      fill: (item) => this.fillOf(item),
      badge: (item) => this.badgeOf(item),
      outlines: () => this.outlines(),
      isSelected: (item) => item.sequences.some((s) => this.selection.has(s)),
      isHighlighted: (item) => item.id === this.highlighted,
    }, {
      click: (item, e) => this.onClick(item, e),
      doubleClick: (item, onHeader) => this.onDoubleClick(item, onHeader),
      contextMenu: (item, e) => this.showMenu(item, e),
      boxSelect: (items, e) => this.setSelection(new Set([...(e.ctrlKey || e.metaKey ? this.selection : []), ...items.flatMap((i) => i.sequences)]), null),
      hover: (item, e) => this.showTooltip(item, e),
    });
    window.addEventListener('keydown', (e) => {
      if (!this.element.isConnected || this.element.offsetParent === null) return;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
        e.preventDefault();
        this.findInput.focus();
        this.findInput.select();
      }
      if (e.key === 'Escape') this.menu.classList.remove('open');
    });
    window.addEventListener('mousedown', (e) => {
      if (!this.menu.contains(e.target as Node)) this.menu.classList.remove('open');
    });
    host.on('graphSelection', ({ candidateIds }) => this.setSelection(new Set(candidateIds), null, false));
  }

  /** Called with every state from the host; (re)loads when the model or the diff base changed. */
  update(tab: GraphTabState, modelChanged: boolean): void {
    const baseChanged = tab.diffBase !== this.tabState.diffBase;
    this.tabState = tab;
    if (modelChanged || baseChanged) {
      this.opened = false;
      this.diff = null;
      this.drift = null;
      if (!tab.diffBase) this.side = 'after';
    }
    if (this.element.isConnected && this.element.offsetParent !== null) void this.ensureOpen();
    else this.renderToolbar();
  }

  /** The tab became visible. */
  async ensureOpen(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    try {
      this.status.textContent = 'Reading the graph…';
      this.catalogs = { after: await this.host.request('graphOpen', {}) };
      this.expanded.after = new Set(this.catalogs.after!.defaultExpanded);
      if (this.tabState.diffBase) {
        this.status.textContent = 'Aligning the two graphs…';
        this.diff = await this.host.request('graphDiff', {});
        this.catalogs.before = await this.host.request('graphOpenBase', {});
        this.expanded.before = new Set(this.catalogs.before.defaultExpanded);
      }
      this.renderToolbar();
      await this.relayout(false);
    } catch (err) {
      this.opened = false;
      this.status.textContent = '';
      this.onError(err instanceof Error ? err.message : String(err));
    }
  }

  private get catalog(): GraphCatalog | undefined {
    return this.catalogs[this.side];
  }

  private async relayout(keepView: boolean): Promise<void> {
    const catalog = this.catalog;
    if (!catalog) return;
    const id = ++this.request;
    const started = performance.now();
    this.status.textContent = 'Laying out…';
    const expanded = [...this.expanded[this.side]];
    const drawing = await this.host.request(this.side === 'after' ? 'graphLayout' : 'graphLayoutBase', { expanded });
    if (id !== this.request) return; // a newer request is on its way
    this.drawn = new DrawnGraph(catalog, drawing);
    this.view.setDrawing(drawing, keepView);
    const nodes = drawing.graph.items.filter((i) => i.kind === 'node').length;
    const modules = drawing.graph.items.filter((i) => i.kind === 'module').length;
    this.status.textContent = `${catalog.nodes.length} nodes · drawn: ${nodes} nodes, ${modules} collapsed modules · ${catalog.sequences.length} sequences` +
      (catalog.hiddenNodes ? ` · ${catalog.hiddenNodes} constants shown as parameters` : '');
    this.canvasHost.dataset.layoutMs = (performance.now() - started).toFixed(0);
    this.canvasHost.dataset.ready = String(id);
  }

  private renderToolbar(): void {
    const selected = [...this.selection];
    const diffOn = this.tabState.diffBase !== null;
    const summary = this.diff ? `${this.diff.removed.length} removed · ${this.diff.pairs.filter((p) => p.change === 'changed').length} changed · ${this.diff.added.length} added` : '';
    replaceChildren(
      this.toolbar,
      this.findInput,
      h('vscode-button', { attrs: { secondary: true, title: 'Fit the graph in the view' }, on: { click: () => this.view.fit() } }, 'Fit'),
      h('vscode-button', { attrs: { secondary: true }, on: { click: () => this.expandAll() } }, 'Expand all'),
      h('vscode-button', { attrs: { secondary: true }, on: { click: () => this.collapseAll() } }, 'Collapse all'),
      h('vscode-button', { attrs: { disabled: selected.length === 0 ? true : undefined, title: 'The same command as in the side panel, on the sequences selected here' }, on: { click: () => this.fuseSelected() } }, `Fuse selected (${selected.length})`),
      diffOn
        ? h('span', { class: 'diff-controls' },
          h('vscode-button', { attrs: { id: 'graph-before', secondary: this.side !== 'before' ? true : undefined }, on: { click: () => this.switchSide('before') } }, 'Before'),
          h('vscode-button', { attrs: { id: 'graph-after', secondary: this.side !== 'after' ? true : undefined }, on: { click: () => this.switchSide('after') } }, 'After'),
          h('span', { class: 'muted', title: this.tabState.diffBase ?? '' }, ` vs ${baseName(this.tabState.diffBase!)} · ${summary} `),
          h('vscode-button', { attrs: { id: 'graph-locate-drift' }, on: { click: () => void this.locateDrift() } }, 'Locate drift'),
          h('vscode-button', { attrs: { secondary: true }, on: { click: () => void this.host.request('chooseDiffBase', { clear: true }) } }, 'Leave diff'),
        )
        : h('vscode-button', { attrs: { secondary: true, title: 'Diff mode: compare this model with another (the original of a fused or merged model)' }, on: { click: () => void this.host.request('chooseDiffBase', { clear: false }).catch((e: Error) => this.onError(e.message)) } }, 'Compare with…'),
      legend(diffOn),
      this.status,
    );
  }

  private async switchSide(side: Side): Promise<void> {
    this.side = side;
    this.renderToolbar();
    await this.relayout(false);
  }

  /** Every module open: every node drawn (a 10,000-node model stays drawable: see graphLayout.ts). */
  private expandAll(): void {
    const c = this.catalog;
    if (!c) return;
    this.expanded[this.side] = new Set(c.modules.map((m) => m.path));
    void this.relayout(false);
  }

  private collapseAll(): void {
    const c = this.catalog;
    if (!c) return;
    this.expanded[this.side] = new Set(c.defaultExpanded);
    void this.relayout(false);
  }

  // ------------------------------------------------------------ decorations

  private changeOf(item: VisibleItem): NodeChange | undefined {
    if (!this.diff) return undefined;
    const changes = this.side === 'after' ? this.diff.changeInB : this.diff.changeInA;
    const nodes = item.kind === 'node' ? [item.id] : this.drawn?.nodesOf.get(item.id) ?? [];
    const seen = nodes.map((n) => changes[n]).filter((c): c is NodeChange => c !== undefined);
    return seen.find((c) => c === 'removed' || c === 'added') ?? seen.find((c) => c === 'changed') ?? (seen.length ? 'same' : undefined);
  }

  private driftOf(item: VisibleItem): number | undefined {
    if (!this.drift || this.side !== 'after') return undefined;
    const nodes = new Set(item.kind === 'node' ? [item.id] : this.drawn?.nodesOf.get(item.id) ?? []);
    let worst: number | undefined;
    for (const e of this.drift.entries) if (nodes.has(e.node) && (worst === undefined || e.relError > worst)) worst = e.relError;
    return worst;
  }

  private fillOf(item: VisibleItem): string | undefined {
    const css = (name: string) => getComputedStyle(document.body).getPropertyValue(name).trim();
    const drift = this.driftOf(item);
    if (drift !== undefined) return driftColour(drift);
    switch (this.changeOf(item)) {
      case 'removed':
        return withAlpha(css('--vscode-charts-red') || '#f14c4c', 0.45);
      case 'added':
        return withAlpha(css('--vscode-charts-green') || '#89d185', 0.45);
      case 'changed':
        return withAlpha(css('--vscode-charts-yellow') || '#cca700', 0.45);
      default:
        return undefined;
    }
  }

  private badgeOf(item: VisibleItem): string | undefined {
    const drift = this.driftOf(item);
    if (drift !== undefined) return `rel. error ${num(drift, 2)}`;
    const change = this.changeOf(item);
    return change && change !== 'same' ? `${change}${item.kind === 'module' ? ' (inside)' : ''}` : undefined;
  }

  private outlines(): Outline[] {
    const c = this.catalog;
    const drawn = this.drawn;
    if (!c || !drawn) return [];
    const css = getComputedStyle(document.body);
    const out: Outline[] = [];
    for (const s of c.sequences) {
      const rects = drawn.itemsOfSequence(s.nodes).map((id) => this.view.placement(id)).filter((p) => p !== undefined).map(boxOf);
      const rect = unionOf(rects);
      if (!rect) continue;
      out.push({
        rect, color: css.getPropertyValue(STATUS_COLOR[s.status]).trim() || '#888', dashed: s.status !== 'safe', selected: this.selection.has(s.id),
        ...(s.lora ? { label: s.label } : {}),
      });
    }
    return out;
  }

  // ------------------------------------------------------------ gestures

  private setSelection(ids: Set<string>, reveal: string | null, tell = true): void {
    this.selection = ids;
    this.renderToolbar();
    this.view.invalidate();
    if (tell) void this.host.request('graphSelect', { candidateIds: [...ids], reveal }).catch(() => undefined);
  }

  private onClick(item: VisibleItem | null, e: MouseEvent): void {
    this.menu.classList.remove('open');
    if (!item) {
      if (!e.shiftKey) this.setSelection(new Set(), null);
      return;
    }
    if (item.sequences.length) {
      const next = new Set(e.shiftKey || e.ctrlKey || e.metaKey ? this.selection : []);
      const allIn = item.sequences.every((s) => next.has(s));
      for (const s of item.sequences) allIn && (e.shiftKey || e.ctrlKey || e.metaKey) ? next.delete(s) : next.add(s);
      this.setSelection(next, e.shiftKey || e.ctrlKey || e.metaKey ? null : item.sequences[0]);
    }
    void this.showPanel(item);
  }

  private onDoubleClick(item: VisibleItem, onHeader: boolean): void {
    if (item.kind === 'module') this.expand(item.module);
    else if (item.kind === 'group' && onHeader) this.collapse(item.module);
  }

  private expand(module: string): void {
    this.expanded[this.side].add(module);
    void this.relayout(true);
  }

  private collapse(module: string): void {
    const c = this.catalog;
    if (!c) return;
    for (const m of subtreeOf(c, module)) this.expanded[this.side].delete(m);
    void this.relayout(true);
  }

  private panelActions(): PanelActions {
    return {
      goToSource: (modules) => void this.host.request('goToSource', { modules }).catch((e: Error) => this.onError(e.message)),
      expand: (m) => this.expand(m),
      selectSequence: (id) => this.setSelection(new Set([id]), id),
    };
  }

  private async showPanel(item: VisibleItem): Promise<void> {
    const c = this.catalog;
    if (!c) return;
    const sequences = c.sequences.filter((s) => item.sequences.includes(s.id));
    if (item.kind === 'module') {
      renderModulePanel(this.panel, item.module, item.count, sequences, this.panelActions());
      return;
    }
    if (item.kind !== 'node') return;
    if (this.side === 'before') {
      replaceChildren(this.panel, h('div', { class: 'mono wrap' }, item.id), h('div', { class: 'muted' }, `${item.label} · ${item.module || 'no module'} (the compared model: details are shown for the open model)`));
      return;
    }
    replaceChildren(this.panel, h('div', { class: 'muted' }, `Reading ${item.id}…`));
    try {
      const details = await this.host.request('graphNode', { node: item.id });
      renderNodePanel(this.panel, details, sequences, this.panelActions());
      const pair = this.diff?.pairs.find((p) => p.b === item.id);
      if (pair?.details.length) this.panel.prepend(h('div', { class: 'diff-note' }, h('strong', null, 'Changed: '), pair.details.join('; ')));
    } catch (err) {
      replaceChildren(this.panel, h('div', { class: 'inline-error' }, err instanceof Error ? err.message : String(err)));
    }
  }

  private showTooltip(item: VisibleItem | null, e: MouseEvent): void {
    const c = this.catalog;
    if (!item || !c || item.kind === 'group') {
      this.tooltip.classList.remove('open');
      return;
    }
    const seqs = c.sequences.filter((s) => item.sequences.includes(s.id));
    replaceChildren(
      this.tooltip,
      h('div', null, h('strong', null, item.label), ' ', h('span', { class: 'muted' }, item.kind === 'node' ? item.id : item.detail)),
      item.module ? h('div', { class: 'muted' }, item.module) : null,
      ...seqs.map((s) => h('div', { class: `status ${s.status === 'safe' ? 'ok' : s.status}` }, `${s.pattern} · ${s.label}: ${s.status === 'safe' ? 'folds exactly' : s.status === 'grouping' ? 'grouping only' : `blocked — ${s.reason}`}`)),
    );
    this.tooltip.style.left = `${e.clientX + 14}px`;
    this.tooltip.style.top = `${e.clientY + 14}px`;
    this.tooltip.classList.add('open');
  }

  private showMenu(item: VisibleItem | null, e: MouseEvent): void {
    if (item && item.sequences.length && !item.sequences.some((s) => this.selection.has(s))) this.setSelection(new Set(item.sequences), item.sequences[0]);
    const entries: [string, () => void, boolean][] = [
      [`Fuse Selected Modules (${this.selection.size})`, () => this.fuseSelected(), this.selection.size > 0 && this.side === 'after'],
      ...(item?.kind === 'module' ? [['Expand', () => this.expand(item.module), true] as [string, () => void, boolean]] : []),
      ...(item?.kind === 'group' ? [['Collapse', () => this.collapse(item.module), true] as [string, () => void, boolean]] : []),
      ...(item?.module ? [['Go to Python Source', () => this.panelActions().goToSource([item.module]), true] as [string, () => void, boolean]] : []),
    ];
    replaceChildren(this.menu, ...entries.map(([label, run, enabled]) =>
      h('div', { class: `graph-menu-item${enabled ? '' : ' disabled'}`, attrs: { role: 'menuitem' }, on: { click: () => { this.menu.classList.remove('open'); if (enabled) run(); } } }, label)));
    this.menu.style.left = `${e.clientX}px`;
    this.menu.style.top = `${e.clientY}px`;
    this.menu.classList.add('open');
  }

  private fuseSelected(): void {
    const ids = [...this.selection];
    void this.host.request('fuseSelected', { candidateIds: ids }).catch((err: Error) => this.onError(err.message));
  }

  // ------------------------------------------------------------ find

  private find(query: string): void {
    const c = this.catalog;
    this.matches = c ? findNodes(c, query) : [];
    this.matchIndex = -1;
    this.highlighted = undefined;
    this.status.textContent = query.trim() ? `${this.matches.length} match${this.matches.length === 1 ? '' : 'es'} — Enter for the next` : '';
    if (!query.trim()) this.findInput.value = '';
    this.view.invalidate();
  }

  private async nextMatch(step: number): Promise<void> {
    const c = this.catalog;
    if (!c || !this.matches.length) return;
    this.matchIndex = (this.matchIndex + step + this.matches.length) % this.matches.length;
    const node = this.matches[this.matchIndex];
    await this.revealNode(node);
    this.status.textContent = `${this.matchIndex + 1} of ${this.matches.length}: ${node}`; // after the relayout's own status
  }

  // ------------------------------------------------------------ drift

  private async locateDrift(): Promise<void> {
    try {
      this.status.textContent = 'Locating drift: running both models with intermediate outputs…';
      this.drift = await this.host.request('locateDrift', {});
      if (this.side !== 'after') await this.switchSide('after');
      this.view.invalidate();
      this.renderDriftList();
    } catch (err) {
      this.status.textContent = '';
      this.onError(err instanceof Error ? err.message : String(err));
    }
  }

  private renderDriftList(): void {
    const r = this.drift;
    if (!r) return;
    replaceChildren(
      this.panel,
      h('div', { class: 'panel-title' }, 'Where the outputs drift'),
      h('div', { class: 'muted' }, `${r.entries.length} intermediate values compared (${r.inputs}); drift starts where a value differs and the values it reads do not.`),
      h('ol', { class: 'drift-list' }, ...r.entries.slice(0, 30).map((e) =>
        h('li', { class: e.origin ? 'drift-origin' : '', on: { click: () => void this.revealNode(e.node) } },
          h('span', { class: 'mono' }, e.node), ' ', h('span', { class: 'muted' }, e.module),
          h('div', { class: 'muted' }, `rel. error ${num(e.relError, 3)} · introduced ${num(e.introduced, 3)} · max |Δ| ${num(e.maxAbs, 3)}${e.origin ? ' · drift starts here' : ''}`)),
      )),
    );
    const first = r.entries[0];
    if (first) void this.revealNode(first.node, false);
  }

  private async revealNode(node: string, panel = true): Promise<void> {
    const c = this.catalog;
    if (!c) return;
    const open = this.expanded[this.side];
    const missing = modulesToReveal(c, node).filter((m) => !open.has(m));
    if (missing.length) {
      for (const m of missing) open.add(m);
      await this.relayout(true);
    }
    this.highlighted = this.drawn?.repOf.get(node) ?? node;
    this.view.centerOn(this.highlighted);
    const item = this.drawn?.drawing.graph.items.find((i) => i.id === this.highlighted);
    if (panel && item) void this.showPanel(item);
  }
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

/** Green (float32 rounding) → yellow → red (percent-level error), on a log scale. */
export function driftColour(relError: number): string {
  const t = Number.isFinite(relError) ? Math.max(0, Math.min(1, (Math.log10(Math.max(relError, 1e-9)) + 7) / 6)) : 1;
  const hue = 120 * (1 - t);
  return `hsla(${hue.toFixed(0)}, 70%, 45%, 0.55)`;
}

function legend(diff: boolean): HTMLElement {
  const chip = (cls: string, text: string) => h('span', { class: `legend-chip ${cls}` }, text);
  return h('span', { class: 'graph-legend' },
    chip('safe', 'folds'), chip('grouping', 'grouping only'), chip('blocked', 'blocked'),
    ...(diff ? [chip('removed', 'removed'), chip('changed', 'changed'), chip('added', 'added')] : []),
  );
}
