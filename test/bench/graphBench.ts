/**
 * `npm run bench -- graph`: the Graph tab's costs on large graphs.
 *
 * 1. Layout library choice: @dagrejs/dagre and elkjs (ELK Layered) on the
 *    same visible graphs — a ResNet-50-sized export and a 10,000-node
 *    transformer — collapsed by module (what the tab opens with) and fully
 *    expanded (every node drawn).
 * 2. What opening the Graph tab costs in the worker for the 10,000-node graph:
 *    load + scan + view-model + collapsed layout (the webview's first draw is
 *    measured in the e2e scenario, which has a browser).
 * 3. A ResNet-50-shaped model with ~2.5 GB of external data: overview + graph
 *    view + layout, and how many weight bytes that read (the process's
 *    read bytes from /proc/self/io, against the external data size).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { analyzeModel } from '../../extension/engine/fusion/scan';
import { toCandidateView } from '../../extension/engine/fusion/candidateView';
import { buildGraphView, type GraphView } from '../../extension/engine/graph/graphView';
import { defaultExpanded, visibleGraph } from '../../extension/engine/graph/graphViewVisible';
import { boxSize, layoutGraph, layoutLevelWithDagre, type LevelGraph } from '../../extension/engine/graph/graphLayout';
import { flatLayout } from '../../extension/engine/graph/flatLayout';
import { layoutLevelWithElk } from './elkLayout';
import { overviewOfFile } from '../../extension/workerProcess/handlers/overviewOfFile';
import { generateResnet50 } from './resnetGenerator';
import { generateTransformer } from './transformerGenerator';

const DIR = path.resolve('.bench/graph');

function viewOf(file: string): GraphView {
  const model = OnnxModel.load(file, { weights: 'on-demand' });
  try {
    const a = analyzeModel(model);
    return buildGraphView(model, a.index, a.tree, a.scan.candidates.map(toCandidateView));
  } finally {
    model.close();
  }
}

/** Wall time and this process's CPU time (the machine is shared: CPU time is the steadier number). */
async function time<T>(fn: () => T | Promise<T>): Promise<{ ms: number; cpuMs: number; value: T; text: string }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  const cpuMs = (c.user + c.system) / 1000;
  return { ms, cpuMs, value, text: `${ms.toFixed(0)} ms wall / ${cpuMs.toFixed(0)} ms CPU` };
}

const ELK_LIMIT_MS = 120_000;

/** Every visible box at one level (what a layout library gets when it must lay out the whole graph at once). */
function oneLevel(view: GraphView, expanded: readonly string[]): LevelGraph {
  const g = visibleGraph(view, expanded);
  const items = g.items.filter((i) => i.kind !== 'group');
  const ids = new Set(items.map((i) => i.id));
  return { nodes: items.map((i) => ({ id: i.id, ...boxSize(i) })), edges: g.edges.filter((e) => ids.has(e.from) && ids.has(e.to)) };
}

/** The layout libraries on the same single-level graphs. */
async function compareLibraries(name: string, level: LevelGraph): Promise<void> {
  const run = async (fn: () => unknown) => Promise.race([
    time(fn).then((r) => r.text).catch((e: Error) => `failed (${e.message.split('\n')[0]})`),
    new Promise<string>((resolve) => setTimeout(() => resolve(`> ${ELK_LIMIT_MS / 1000} s (stopped)`), ELK_LIMIT_MS).unref()),
  ]);
  const dagre = await run(() => layoutLevelWithDagre(level));
  const elk = await run(() => layoutLevelWithElk(level));
  const flat = await run(() => flatLayout(level));
  console.log(`${name}: ${level.nodes.length} boxes, ${level.edges.length} edges at one level — dagre ${dagre}, elkjs ${elk}, linear layering ${flat}`);
}

/** Expanded modules of the first `layers` transformer layers (the rest stay collapsed). */
function firstLayers(view: GraphView, layers: number): string[] {
  return view.modules.filter((m) => { const l = /^layers\.(\d+)/.exec(m.path); return m.path === '' || m.path === 'layers' || (l !== null && Number(l[1]) < layers); }).map((m) => m.path);
}

function readBytes(): number {
  const m = /read_bytes:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  const r = /rchar:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
  // rchar counts bytes read through read()/pread() (also from the page cache); read_bytes only disk reads.
  return Number(r?.[1] ?? m?.[1] ?? 0);
}

export async function runGraphBench(): Promise<void> {
  const resnet = generateResnet50(DIR, 'resnet50', 1, false);
  const transformer = generateTransformer(DIR, 200);
  console.log(`models: ResNet-50 (${path.basename(resnet.onnxPath)}), transformer with ${transformer.nodes} nodes`);

  const resnetView = viewOf(resnet.onnxPath);
  await compareLibraries('ResNet-50 expanded', oneLevel(resnetView, resnetView.modules.map((m) => m.path)));
  const open = await time(() => viewOf(transformer.onnxPath));
  const view = open.value;
  for (const layers of [1, 10, 40]) await compareLibraries(`transformer, ${layers} layer(s) expanded`, oneLevel(view, firstLayers(view, layers)));

  const collapsed = await time(() => layoutGraph(visibleGraph(view, defaultExpanded(view))));
  const everything = visibleGraph(view, view.modules.map((m) => m.path));
  const expanded = await time(() => layoutGraph(everything));
  const flat = oneLevel(view, view.modules.map((m) => m.path));
  const itemById = new Map(everything.items.map((i) => [i.id, i]));
  const flatGraph = { items: flat.nodes.map((n) => ({ ...itemById.get(n.id)!, parent: null })), edges: everything.edges, expanded: [] };
  const flatTime = await time(() => layoutGraph(flatGraph));
  console.log(`transformer, ${view.nodes.length} drawn nodes: load + scan + view-model ${open.text}`);
  console.log(`  layout collapsed by module (first open) ${collapsed.text}`);
  console.log(`  layout with every module expanded (${everything.items.length} boxes and frames, hierarchical) ${expanded.text}`);
  console.log(`  layout of all ${flat.nodes.length} boxes at one level (no module information: linear layering) ${flatTime.text}`);

  const big = generateResnet50(DIR, 'resnet50-external', 5, true);
  const external = fs.statSync(big.dataPath!).size;
  const before = readBytes();
  const t = await time(() => {
    overviewOfFile(big.onnxPath, { progress: () => undefined, throwIfCancelled: () => undefined });
    const v = viewOf(big.onnxPath);
    return layoutGraph(visibleGraph(v, defaultExpanded(v)));
  });
  const read = readBytes() - before - fs.statSync(big.onnxPath).size * 2;
  console.log(
    `ResNet-50 ×5 with ${(external / 2 ** 30).toFixed(2)} GiB external data: overview + graph view + layout ${t.text}; ` +
      `bytes read beyond the .onnx file (read twice) ${Math.max(0, read)} = ${((Math.max(0, read) / external) * 100).toFixed(4)} % of the weight bytes`,
  );
}
