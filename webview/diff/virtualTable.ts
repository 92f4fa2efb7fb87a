/**
 * A table that stays responsive with 100 000 rows: only the rows in view
 * (plus a few above and below) exist in the DOM, positioned inside a spacer
 * as tall as all rows. Sorting and filtering work on the row array; the DOM
 * is rebuilt only for the visible window. Cells are text only (tensor names
 * come from the model file: never markup).
 */
export interface Column<T> {
  key: string;
  label: string;
  /** CSS grid track, e.g. "minmax(200px, 2fr)" or "90px". */
  width: string;
  numeric?: boolean;
  text(row: T): string;
  /** Sort key; rows without one (null) sort last in both directions. */
  sortValue(row: T): number | string | null;
  title?(row: T): string | undefined;
}

export interface VirtualTableOptions<T> {
  columns: Column<T>[];
  rowHeight?: number;
  /** Visible height of the scrolling body in pixels. */
  height?: number;
  rowKey(row: T): string;
  onSelect?(row: T): void;
  emptyText?: string;
}

const OVERSCAN = 8;

export class VirtualTable<T> {
  readonly element: HTMLElement;
  private readonly head: HTMLElement;
  private readonly body: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly window: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly rowHeight: number;
  private all: T[] = [];
  private rows: T[] = [];
  private filter: (row: T) => boolean = () => true;
  private sort: { key: string; dir: 1 | -1 } | null = null;
  private selected: string | null = null;
  private frame = 0;

  constructor(private readonly options: VirtualTableOptions<T>) {
    this.rowHeight = options.rowHeight ?? 24;
    const template = options.columns.map((c) => c.width).join(' ');
    this.element = document.createElement('div');
    this.element.className = 'vtable';
    this.head = document.createElement('div');
    this.head.className = 'vtable-head vtable-row';
    this.head.style.gridTemplateColumns = template;
    this.head.setAttribute('role', 'row');
    for (const c of options.columns) {
      const cell = document.createElement('div');
      cell.className = `vtable-cell vtable-header${c.numeric ? ' num' : ''}`;
      cell.textContent = c.label;
      cell.title = `Sort by ${c.label}`;
      cell.tabIndex = 0;
      cell.setAttribute('role', 'columnheader');
      cell.dataset.key = c.key;
      const toggle = () => this.sortBy(c.key);
      cell.addEventListener('click', toggle);
      cell.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          toggle();
        }
      });
      this.head.appendChild(cell);
    }
    this.body = document.createElement('div');
    this.body.className = 'vtable-body';
    this.body.style.height = `${this.maxHeight()}px`;
    this.body.setAttribute('role', 'rowgroup');
    this.body.tabIndex = 0;
    this.spacer = document.createElement('div');
    this.spacer.className = 'vtable-spacer';
    this.window = document.createElement('div');
    this.window.className = 'vtable-window';
    this.spacer.appendChild(this.window);
    this.body.appendChild(this.spacer);
    this.empty = document.createElement('div');
    this.empty.className = 'vtable-empty muted';
    this.empty.textContent = options.emptyText ?? 'No rows.';
    this.element.append(this.head, this.body, this.empty);
    this.element.setAttribute('role', 'table');
    this.body.addEventListener('scroll', () => this.schedule());
    this.body.addEventListener('keydown', (e) => this.onKey(e));
    new ResizeObserver(() => this.schedule()).observe(this.body);
  }

  private maxHeight(): number {
    return this.options.height ?? 420;
  }

  setRows(rows: T[]): void {
    this.all = rows;
    this.apply();
  }

  setFilter(filter: (row: T) => boolean): void {
    this.filter = filter;
    this.apply();
  }

  sortBy(key: string, dir?: 1 | -1): void {
    const next: 1 | -1 = dir ?? (this.sort?.key === key ? (this.sort.dir === 1 ? -1 : 1) : this.options.columns.find((c) => c.key === key)?.numeric ? -1 : 1);
    this.sort = { key, dir: next };
    for (const cell of Array.from(this.head.children) as HTMLElement[]) {
      cell.classList.toggle('sorted', cell.dataset.key === key);
      cell.setAttribute('aria-sort', cell.dataset.key === key ? (next === 1 ? 'ascending' : 'descending') : 'none');
      cell.dataset.dir = cell.dataset.key === key ? (next === 1 ? '▲' : '▼') : '';
    }
    this.apply();
  }

  /** Rows after filter and sort (what the table shows, in order). */
  get visibleRows(): readonly T[] {
    return this.rows;
  }

  select(key: string | null): void {
    this.selected = key;
    this.render();
  }

  private apply(): void {
    const rows = this.all.filter(this.filter);
    if (this.sort) {
      const col = this.options.columns.find((c) => c.key === this.sort!.key);
      const dir = this.sort.dir;
      if (col) {
        rows.sort((a, b) => {
          const x = col.sortValue(a);
          const y = col.sortValue(b);
          if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
          if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
          return String(x).localeCompare(String(y), 'en', { numeric: true }) * dir;
        });
      }
    }
    this.rows = rows;
    this.spacer.style.height = `${rows.length * this.rowHeight}px`;
    // Short lists get a short table; long ones scroll inside maxHeight.
    this.body.style.height = `${Math.min(this.maxHeight(), Math.max(rows.length, 3) * this.rowHeight + 2)}px`;
    this.empty.style.display = rows.length ? 'none' : 'block';
    this.render();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const viewport = this.body.clientHeight || Number.parseInt(this.body.style.height, 10);
    const first = Math.max(0, Math.floor(this.body.scrollTop / this.rowHeight) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.body.scrollTop + viewport) / this.rowHeight) + OVERSCAN);
    this.window.style.transform = `translateY(${first * this.rowHeight}px)`;
    const template = this.options.columns.map((c) => c.width).join(' ');
    const fragment = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = this.rows[i];
      const key = this.options.rowKey(row);
      const el = document.createElement('div');
      el.className = `vtable-row${key === this.selected ? ' selected' : ''}`;
      el.style.gridTemplateColumns = template;
      el.style.height = `${this.rowHeight}px`;
      el.setAttribute('role', 'row');
      el.dataset.index = String(i);
      for (const c of this.options.columns) {
        const cell = document.createElement('div');
        cell.className = `vtable-cell${c.numeric ? ' num' : ''}`;
        cell.textContent = c.text(row);
        const title = c.title?.(row);
        if (title) cell.title = title;
        cell.setAttribute('role', 'cell');
        el.appendChild(cell);
      }
      el.addEventListener('click', () => this.choose(i));
      fragment.appendChild(el);
    }
    this.window.replaceChildren(fragment);
  }

  private choose(index: number): void {
    const row = this.rows[index];
    if (!row) return;
    this.selected = this.options.rowKey(row);
    this.render();
    this.options.onSelect?.(row);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const current = this.rows.findIndex((r) => this.options.rowKey(r) === this.selected);
    const next = Math.max(0, Math.min(this.rows.length - 1, current + (e.key === 'ArrowDown' ? 1 : -1)));
    const top = next * this.rowHeight;
    if (top < this.body.scrollTop) this.body.scrollTop = top;
    else if (top + this.rowHeight > this.body.scrollTop + this.body.clientHeight) this.body.scrollTop = top + this.rowHeight - this.body.clientHeight;
    this.choose(next);
  }
}
