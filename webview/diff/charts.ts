/**
 * Chart.js, registered with only what the panels draw, and themed from VS
 * Code's CSS variables (light, dark, high contrast) — re-themed when the user
 * switches theme (VS Code changes the body class).
 */
import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, LogarithmicScale, PointElement, Tooltip,
  type ChartConfiguration,
} from 'chart.js';
export { withAlpha } from '../shared/color';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, Tooltip, Legend, Filler);

export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  before: string;
  after: string;
  accent: string;
  warning: string;
  font: string;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export function chartTheme(): ChartTheme {
  return {
    foreground: cssVar('--vscode-foreground', '#cccccc'),
    muted: cssVar('--vscode-descriptionForeground', '#9d9d9d'),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    before: cssVar('--vscode-charts-blue', '#3794ff'),
    after: cssVar('--vscode-charts-orange', '#d18616'),
    accent: cssVar('--vscode-charts-purple', '#b180d7'),
    warning: cssVar('--vscode-charts-red', '#f14c4c'),
    font: cssVar('--vscode-font-family', 'sans-serif'),
  };
}

function applyDefaults(t: ChartTheme): void {
  Chart.defaults.color = t.foreground;
  Chart.defaults.borderColor = t.grid;
  Chart.defaults.font.family = t.font;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
}

const live = new Set<{ chart: Chart; build: (t: ChartTheme) => ChartConfiguration }>();

/** Draws a chart into `canvas`; `build` is called again with the new colours when the theme changes. */
export function themedChart(canvas: HTMLCanvasElement, build: (t: ChartTheme) => ChartConfiguration): Chart {
  const t = chartTheme();
  applyDefaults(t);
  const entry = { chart: new Chart(canvas, build(t)), build };
  live.add(entry);
  const destroy = entry.chart.destroy.bind(entry.chart);
  entry.chart.destroy = () => {
    live.delete(entry);
    destroy();
  };
  return entry.chart;
}

new MutationObserver(() => {
  const t = chartTheme();
  applyDefaults(t);
  for (const e of live) {
    const cfg = e.build(t);
    e.chart.data = cfg.data;
    if (cfg.options) e.chart.options = cfg.options;
    e.chart.update();
  }
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });
