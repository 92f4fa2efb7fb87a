/**
 * Draws a laid-out graph on one <canvas> and turns pointer input into
 * gestures: pan (drag), zoom (wheel, at the cursor), click / shift-click,
 * box select (shift-drag), double-click, right-click, hover.
 *
 * Canvas rather than SVG so that 10,000 boxes stay smooth: each frame draws
 * only what intersects the viewport (boxes and edges are culled by their
 * bounds), text is skipped when it would be too small to read, and redraws
 * are coalesced into one animation frame. Layout happens in the worker; this
 * file never moves a box.
 */
import type { GraphDrawing, PlacedItem, VisibleItem } from '../../extension/protocol/graphMethods';
import { withAlpha } from '../shared/color';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What the controller decides per frame: colours and outlines. */
export interface Decorations {
  /** Fill colour per item id (diff or drift colouring); undefined = the theme's. */
  fill(item: VisibleItem): string | undefined;
  /** Extra text under a box (drift error, diff change), if any. */
  badge(item: VisibleItem): string | undefined;
  /** Outlines drawn around groups of boxes (fusible sequences). */
  outlines(): Outline[];
  isSelected(item: VisibleItem): boolean;
  isHighlighted(item: VisibleItem): boolean;
}

/** A fusible sequence's outline; a LoRA branch is labelled `module · rank · scale` above it. */
export interface Outline {
  rect: Rect;
  color: string;
  dashed: boolean;
  selected: boolean;
  label?: string;
}

export interface Gestures {
  click(item: VisibleItem | null, e: MouseEvent): void;
  doubleClick(item: VisibleItem, onHeader: boolean): void;
  contextMenu(item: VisibleItem | null, e: MouseEvent): void;
  boxSelect(items: VisibleItem[], e: MouseEvent): void;
  hover(item: VisibleItem | null, e: MouseEvent): void;
}

const HEADER = 24;

export class CanvasView {
  readonly canvas: HTMLCanvasElement;
  private drawing: GraphDrawing | undefined;
  private placed = new Map<string, PlacedItem>();
  private items = new Map<string, VisibleItem>();
  private scale = 1;
  private tx = 0;
  private ty = 0;
  private frame = 0;
  private drag: { x: number; y: number; tx: number; ty: number; box: boolean; moved: boolean } | undefined;
  private box: Rect | undefined;
  private readonly theme: Record<string, string> = {};
  /** Milliseconds the last frame took (the e2e scenario and the bench read it). */
  lastFrameMs = 0;

  constructor(parent: HTMLElement, private readonly decorations: Decorations, private readonly gestures: Gestures) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'graph-canvas';
    this.canvas.tabIndex = 0;
    parent.appendChild(this.canvas);
    new ResizeObserver(() => this.invalidate()).observe(parent);
    this.canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    this.canvas.addEventListener('mousedown', (e) => this.onDown(e));
    window.addEventListener('mousemove', (e) => this.onMove(e));
    window.addEventListener('mouseup', (e) => this.onUp(e));
    this.canvas.addEventListener('dblclick', (e) => {
      const hit = this.hit(e);
      if (hit) this.gestures.doubleClick(hit.item, hit.onHeader);
    });
    this.canvas.addEventListener('contextmenu', (e) => {
      e.preventDefault();
      this.gestures.contextMenu(this.hit(e)?.item ?? null, e);
    });
    this.canvas.addEventListener('mouseleave', (e) => this.gestures.hover(null, e));
    this.readTheme();
    new MutationObserver(() => {
      this.readTheme();
      this.invalidate();
    }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  /** Shows a new drawing; `keepView` keeps the zoom and scroll (expanding a module), else the graph is fitted. */
  setDrawing(drawing: GraphDrawing, keepView: boolean): void {
    this.drawing = drawing;
    this.placed = new Map(drawing.layout.items.map((p) => [p.id, p]));
    this.items = new Map(drawing.graph.items.map((i) => [i.id, i]));
    if (!keepView) this.fit();
    this.invalidate();
  }

  placement(id: string): PlacedItem | undefined {
    return this.placed.get(id);
  }

  /** Fits the whole graph, but never zooms in beyond 1:1 nor out so far that a box is a dot. */
  fit(): void {
    if (!this.drawing) return;
    const { width, height } = this.drawing.layout;
    const w = this.canvas.clientWidth || 800;
    const h = this.canvas.clientHeight || 600;
    this.scale = Math.max(0.15, Math.min(1, w / Math.max(1, width), h / Math.max(1, height)));
    this.tx = (w - width * this.scale) / 2;
    this.ty = Math.max(8, (h - height * this.scale) / 2);
    if (height * this.scale > h) this.ty = 8;
    this.invalidate();
  }

  /** Scrolls a box to the centre. */
  centerOn(id: string): void {
    const p = this.placed.get(id);
    if (!p) return;
    this.scale = Math.max(this.scale, 0.6);
    this.tx = this.canvas.clientWidth / 2 - p.x * this.scale;
    this.ty = this.canvas.clientHeight / 2 - p.y * this.scale;
    this.invalidate();
  }

  invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Items whose box intersects a rectangle in graph coordinates (box select). */
  itemsIn(r: Rect): VisibleItem[] {
    const out: VisibleItem[] = [];
    for (const p of this.placed.values()) {
      const item = this.items.get(p.id)!;
      if (item.kind === 'group') continue;
      if (intersects(r, boxOf(p))) out.push(item);
    }
    return out;
  }

  private readTheme(): void {
    const css = getComputedStyle(document.body);
    const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    Object.assign(this.theme, {
      background: v('--vscode-editor-background', '#1e1e1e'),
      foreground: v('--vscode-foreground', '#cccccc'),
      muted: v('--vscode-descriptionForeground', '#999999'),
      box: v('--vscode-editorWidget-background', '#252526'),
      module: v('--vscode-sideBar-background', '#252526'),
      border: v('--vscode-editorWidget-border', v('--vscode-widget-border', '#454545')),
      edge: v('--vscode-editorLineNumber-foreground', '#858585'),
      focus: v('--vscode-focusBorder', '#007fd4'),
      selection: v('--vscode-editor-selectionBackground', '#264f78'),
      find: v('--vscode-editor-findMatchHighlightBackground', 'rgba(234, 92, 0, 0.33)'),
      font: v('--vscode-font-family', 'sans-serif'),
    });
  }

  private toGraph(e: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left - this.tx) / this.scale, y: (e.clientY - r.top - this.ty) / this.scale };
  }

  /** The innermost item under the pointer: boxes before the frames of expanded modules. */
  private hit(e: MouseEvent): { item: VisibleItem; onHeader: boolean } | undefined {
    const { x, y } = this.toGraph(e);
    let frame: { item: VisibleItem; onHeader: boolean; area: number } | undefined;
    for (const p of this.placed.values()) {
      const b = boxOf(p);
      if (x < b.x || x > b.x + b.width || y < b.y || y > b.y + b.height) continue;
      const item = this.items.get(p.id)!;
      if (item.kind !== 'group') return { item, onHeader: false };
      const area = b.width * b.height;
      if (!frame || area < frame.area) frame = { item, onHeader: y < b.y + HEADER, area };
    }
    return frame ? { item: frame.item, onHeader: frame.onHeader } : undefined;
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left;
    const my = e.clientY - r.top;
    if (!e.ctrlKey && Math.abs(e.deltaX) + Math.abs(e.deltaY) > 0 && !e.altKey && e.deltaMode === 0 && Math.abs(e.deltaY) < 4 && Math.abs(e.deltaX) > 0) {
      // Trackpad horizontal scroll: pan.
      this.tx -= e.deltaX;
      this.invalidate();
      return;
    }
    const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
    const next = Math.max(0.02, Math.min(4, this.scale * factor));
    this.tx = mx - ((mx - this.tx) * next) / this.scale;
    this.ty = my - ((my - this.ty) * next) / this.scale;
    this.scale = next;
    this.invalidate();
  }

  private onDown(e: MouseEvent): void {
    if (e.button !== 0) return;
    this.canvas.focus();
    this.drag = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, box: e.shiftKey, moved: false };
  }

  private onMove(e: MouseEvent): void {
    const d = this.drag;
    if (!d) {
      if (e.target === this.canvas) this.gestures.hover(this.hit(e)?.item ?? null, e);
      return;
    }
    if (Math.abs(e.clientX - d.x) + Math.abs(e.clientY - d.y) > 4) d.moved = true;
    if (!d.moved) return;
    if (d.box) {
      const r = this.canvas.getBoundingClientRect();
      const a = { x: (d.x - r.left - this.tx) / this.scale, y: (d.y - r.top - this.ty) / this.scale };
      const b = this.toGraph(e);
      this.box = { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
    } else {
      this.tx = d.tx + e.clientX - d.x;
      this.ty = d.ty + e.clientY - d.y;
    }
    this.invalidate();
  }

  private onUp(e: MouseEvent): void {
    const d = this.drag;
    this.drag = undefined;
    if (!d) return;
    if (!d.moved) {
      this.gestures.click(this.hit(e)?.item ?? null, e);
      return;
    }
    if (d.box && this.box) {
      const picked = this.itemsIn(this.box);
      this.box = undefined;
      this.gestures.boxSelect(picked, e);
      this.invalidate();
    }
  }

  private draw(): void {
    const started = performance.now();
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, 0, w, h);
    if (!this.drawing) return;
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty);
    const view: Rect = { x: -this.tx / this.scale, y: -this.ty / this.scale, width: w / this.scale, height: h / this.scale };
    const t = this.theme;
    const text = this.scale * 12 >= 5;

    // Frames of expanded modules first (they sit behind their contents); zoomed out, as one path.
    const frames = text ? undefined : new Path2D();
    for (const p of this.drawing.layout.items) {
      const item = this.items.get(p.id)!;
      if (item.kind !== 'group') continue;
      const b = boxOf(p);
      if (!intersects(view, b)) continue;
      if (frames) {
        frames.rect(b.x, b.y, b.width, b.height);
        continue;
      }
      ctx.fillStyle = withAlpha(t.module, 0.35);
      ctx.strokeStyle = this.decorations.isSelected(item) ? t.focus : t.border;
      ctx.lineWidth = 1 / this.scale;
      roundRect(ctx, b, 6);
      ctx.fill();
      ctx.stroke();
      if (text) {
        ctx.fillStyle = t.muted;
        ctx.font = `600 12px ${t.font}`;
        ctx.fillText(clip(ctx, `▾ ${item.label}  ${item.detail}`, b.width - 12), b.x + 8, b.y + 16);
      }
    }

    if (frames) {
      ctx.fillStyle = withAlpha(t.module, 0.35);
      ctx.fill(frames);
      ctx.strokeStyle = t.border;
      ctx.lineWidth = 1 / this.scale;
      ctx.stroke(frames);
    }

    ctx.strokeStyle = t.edge;
    ctx.lineWidth = 1 / this.scale;
    ctx.beginPath();
    for (const e of this.drawing.layout.edges) {
      if (e.points.length < 2 || !intersects(view, boundsOf(e.points))) continue;
      ctx.moveTo(e.points[0].x, e.points[0].y);
      for (let i = 1; i < e.points.length; i++) ctx.lineTo(e.points[i].x, e.points[i].y);
    }
    ctx.stroke();
    if (this.scale > 0.3) {
      ctx.fillStyle = t.edge;
      for (const e of this.drawing.layout.edges) {
        const n = e.points.length;
        if (n < 2 || !intersects(view, boundsOf(e.points))) continue;
        arrowHead(ctx, e.points[n - 2], e.points[n - 1], 5);
      }
    }

    for (const o of this.decorations.outlines()) {
      if (!intersects(view, o.rect)) continue;
      ctx.strokeStyle = o.color;
      ctx.lineWidth = (o.selected ? 3 : 1.5) / this.scale;
      ctx.setLineDash(o.dashed ? [6 / this.scale, 4 / this.scale] : []);
      roundRect(ctx, pad(o.rect, 6), 8);
      if (o.selected) {
        ctx.fillStyle = withAlpha(t.selection, 0.35);
        ctx.fill();
      }
      ctx.stroke();
      if (o.label && text) {
        ctx.fillStyle = o.color;
        ctx.font = `600 11px ${t.font}`;
        ctx.fillText(o.label, o.rect.x - 4, o.rect.y - 10);
      }
    }
    ctx.setLineDash([]);

    if (!text) {
      // Zoomed out (thousands of boxes in view, no text to read): plain rectangles, one path per colour,
      // filled and stroked once — a few draw calls per frame instead of two per box.
      this.drawBoxesBatched(ctx, view);
      this.finishFrame(started);
      return;
    }
    for (const p of this.drawing.layout.items) {
      const item = this.items.get(p.id)!;
      if (item.kind === 'group') continue;
      const b = boxOf(p);
      if (!intersects(view, b)) continue;
      ctx.fillStyle = this.fillOf(item);
      ctx.strokeStyle = this.decorations.isSelected(item) ? t.focus : t.border;
      ctx.lineWidth = (this.decorations.isSelected(item) ? 2.5 : 1) / this.scale;
      roundRect(ctx, b, item.kind === 'input' || item.kind === 'output' ? b.height / 2 : 4);
      ctx.fill();
      ctx.stroke();
      if (item.kind === 'module') {
        // A collapsed module: a second edge, like a stack of boxes.
        ctx.beginPath();
        ctx.moveTo(b.x + 4, b.y + b.height + 3);
        ctx.lineTo(b.x + b.width + 3, b.y + b.height + 3);
        ctx.lineTo(b.x + b.width + 3, b.y + 4);
        ctx.stroke();
      }
      if (this.decorations.isHighlighted(item)) {
        ctx.fillStyle = t.find;
        roundRect(ctx, pad(b, 3), 6);
        ctx.fill();
      }
      if (!text) continue;
      ctx.fillStyle = t.foreground;
      ctx.font = `600 12px ${t.font}`;
      ctx.fillText(clip(ctx, item.kind === 'module' ? `▸ ${item.label}` : item.label, b.width - 12), b.x + 8, b.y + 16);
      ctx.fillStyle = t.muted;
      ctx.font = `11px ${t.font}`;
      const badge = this.decorations.badge(item);
      ctx.fillText(clip(ctx, badge ?? item.detail, b.width - 12), b.x + 8, b.y + 31);
    }

    if (this.box) {
      ctx.strokeStyle = t.focus;
      ctx.lineWidth = 1 / this.scale;
      ctx.setLineDash([4 / this.scale, 3 / this.scale]);
      ctx.strokeRect(this.box.x, this.box.y, this.box.width, this.box.height);
      ctx.setLineDash([]);
    }
    this.finishFrame(started);
  }

  private fillOf(item: VisibleItem): string {
    const t = this.theme;
    return this.decorations.fill(item) ?? (item.kind === 'module' ? t.module : item.kind === 'node' ? t.box : t.background);
  }

  private drawBoxesBatched(ctx: CanvasRenderingContext2D, view: Rect): void {
    const byFill = new Map<string, Path2D>();
    const outline = new Path2D();
    const selected = new Path2D();
    for (const p of this.drawing!.layout.items) {
      const item = this.items.get(p.id)!;
      if (item.kind === 'group') continue;
      const b = boxOf(p);
      if (!intersects(view, b)) continue;
      const fill = this.fillOf(item);
      let path = byFill.get(fill);
      if (!path) byFill.set(fill, (path = new Path2D()));
      path.rect(b.x, b.y, b.width, b.height);
      (this.decorations.isSelected(item) || this.decorations.isHighlighted(item) ? selected : outline).rect(b.x, b.y, b.width, b.height);
    }
    for (const [fill, path] of byFill) {
      ctx.fillStyle = fill;
      ctx.fill(path);
    }
    ctx.lineWidth = 1 / this.scale;
    ctx.strokeStyle = this.theme.border;
    ctx.stroke(outline);
    ctx.lineWidth = 3 / this.scale;
    ctx.strokeStyle = this.theme.focus;
    ctx.stroke(selected);
  }

  private finishFrame(started: number): void {
    this.lastFrameMs = performance.now() - started;
    this.canvas.dataset.frameMs = this.lastFrameMs.toFixed(1);
    this.canvas.dataset.items = String(this.drawing?.layout.items.length ?? 0);
  }
}

export function boxOf(p: PlacedItem): Rect {
  return { x: p.x - p.width / 2, y: p.y - p.height / 2, width: p.width, height: p.height };
}

export function unionOf(rects: readonly Rect[]): Rect | undefined {
  if (!rects.length) return undefined;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const r of rects) {
    x0 = Math.min(x0, r.x);
    y0 = Math.min(y0, r.y);
    x1 = Math.max(x1, r.x + r.width);
    y1 = Math.max(y1, r.y + r.height);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

function boundsOf(points: readonly { x: number; y: number }[]): Rect {
  return unionOf(points.map((p) => ({ x: p.x, y: p.y, width: 0, height: 0 })))!;
}

function intersects(a: Rect, b: Rect): boolean {
  return a.x <= b.x + b.width && b.x <= a.x + a.width && a.y <= b.y + b.height && b.y <= a.y + a.height;
}

function pad(r: Rect, d: number): Rect {
  return { x: r.x - d, y: r.y - d, width: r.width + 2 * d, height: r.height + 2 * d };
}

function roundRect(ctx: CanvasRenderingContext2D, r: Rect, radius: number): void {
  ctx.beginPath();
  ctx.roundRect(r.x, r.y, r.width, r.height, Math.min(radius, r.height / 2, r.width / 2));
}

function arrowHead(ctx: CanvasRenderingContext2D, from: { x: number; y: number }, to: { x: number; y: number }, size: number): void {
  const a = Math.atan2(to.y - from.y, to.x - from.x);
  ctx.beginPath();
  ctx.moveTo(to.x, to.y);
  ctx.lineTo(to.x - size * Math.cos(a - 0.45), to.y - size * Math.sin(a - 0.45));
  ctx.lineTo(to.x - size * Math.cos(a + 0.45), to.y - size * Math.sin(a + 0.45));
  ctx.closePath();
  ctx.fill();
}

/** Cuts text to a width with an ellipsis. */
function clip(ctx: CanvasRenderingContext2D, s: string, width: number): string {
  if (ctx.measureText(s).width <= width) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(`${s.slice(0, mid)}…`).width <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${s.slice(0, lo)}…`;
}
