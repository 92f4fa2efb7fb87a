/**
 * `npm run bench -- graph-render`: the Graph tab's first render and its
 * frames in a real browser. The bundled overview webview (dist/webview/
 * overview.js, as VS Code loads it) is served with a stand-in for VS Code's
 * webview API whose requests are answered by the worker's own graph handlers
 * in this process; Debian's Chromium, driven by the e2e tools' playwright-core,
 * opens it. Measured on the 10,000-node transformer (transformerGenerator.ts):
 * opening the tab (catalog + collapsed layout + first frame), "Expand all"
 * (every node drawn) and frames while zooming.
 *
 * Needs `npm run build`, /usr/bin/chromium and test/e2e/node_modules (the e2e
 * tools); says so and stops when they are missing. Not a test: no assertions
 * on times, it prints them.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import '../../extension/workerProcess/handlers/index';
import { getHandler } from '../../extension/workerProcess/registry';
import { overviewOfFile } from '../../extension/workerProcess/handlers/overviewOfFile';
import { generateTransformer } from './transformerGenerator';

const ROOT = path.resolve(__dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const PLAYWRIGHT = path.join(ROOT, 'test/e2e/node_modules/playwright-core/index.js');

const quiet = { id: 0, token: { cancelled: false, throwIfCancelled: () => undefined }, throwIfCancelled: () => undefined, progress: () => undefined };
const call = (method: string, params: unknown) => (getHandler(method) as (p: unknown, c: typeof quiet) => Promise<unknown>)(params, quiet);

/** The page VS Code would give the webview, minus the CSP, with a stand-in acquireVsCodeApi that posts to this server. */
const PAGE = `<!DOCTYPE html><html><head>
<link rel="stylesheet" href="/media/overview.css"><link rel="stylesheet" href="/media/graph.css">
<style>body { --vscode-foreground: #ccc; --vscode-editor-background: #1e1e1e; --vscode-charts-green: #89d185; --vscode-charts-red: #f14c4c;
  --vscode-charts-blue: #3794ff; --vscode-charts-yellow: #cca700; --vscode-focusBorder: #007fd4; --vscode-descriptionForeground: #999;
  --vscode-editorWidget-background: #252526; --vscode-sideBar-background: #2d2d30; --vscode-editorWidget-border: #454545; }</style></head>
<body><div id="root"></div><script>
window.acquireVsCodeApi = () => ({ getState: () => ({ tab: 'graph' }), setState() {}, postMessage: async (m) => {
  if (m.kind === 'ready') { window.postMessage({ kind: 'event', name: 'state', payload: await (await fetch('/state')).json() }, '*'); return; }
  if (m.kind !== 'request') return;
  const j = await (await fetch('/rpc/' + m.method, { method: 'POST', body: JSON.stringify(m.params) })).json();
  window.postMessage(j.error ? { kind: 'error', id: m.id, message: j.error } : { kind: 'reply', id: m.id, result: j.result }, '*');
} });
</script><script src="/dist/webview/overview.js"></script></body></html>`;

function serve(model: string): Promise<http.Server> {
  const rpc: Record<string, (p: { expanded?: string[]; node?: string }) => Promise<unknown>> = {
    graphOpen: () => call('graph/open', { path: model }),
    graphLayout: (p) => call('graph/layout', { path: model, expanded: p.expanded }),
    graphNode: (p) => call('graph/node', { path: model, node: p.node }),
    graphSelect: async () => undefined,
  };
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (url === '/') return void res.end(PAGE);
    if (url === '/state') {
      const overview = overviewOfFile(model, quiet);
      return void res.end(JSON.stringify({ phase: 'ready', overview, actions: { fuseDisabledReason: null, busy: null, namedFrom: null }, graph: { diffBase: null, show: true } }));
    }
    if (url.startsWith('/rpc/')) {
      let body = '';
      for await (const chunk of req) body += chunk;
      const handler = rpc[url.slice(5)];
      try {
        res.end(JSON.stringify({ result: handler ? await handler(JSON.parse(body || '{}')) : undefined }));
      } catch (err) {
        res.end(JSON.stringify({ error: (err as Error).message }));
      }
      return;
    }
    const file = path.join(ROOT, path.normalize(url).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(ROOT) || !fs.existsSync(file)) return void res.writeHead(404).end();
    res.setHeader('content-type', file.endsWith('.css') ? 'text/css' : 'text/javascript');
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function runGraphRenderBench(): Promise<void> {
  if (!fs.existsSync(CHROMIUM) || !fs.existsSync(PLAYWRIGHT) || !fs.existsSync(path.join(ROOT, 'dist/webview/overview.js'))) {
    console.log(`skipped: needs ${CHROMIUM}, the e2e tools (test/e2e/node_modules) and npm run build`);
    return;
  }
  const { onnxPath, nodes } = generateTransformer(path.resolve('.bench/graph'), 200);
  const server = await serve(onnxPath);
  // playwright-core lives in the e2e tools' own node_modules, not the project's: loaded by path, untyped.
  const { chromium } = require(PLAYWRIGHT) as { chromium: { launch(options: object): Promise<any> } };
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const frame = () => page.locator('canvas.graph-canvas').getAttribute('data-frame-ms');
    const nextPaint = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const drawnAfter = async (id: number) => {
      await page.waitForFunction((b: number) => Number(document.querySelector<HTMLElement>('.graph-canvas-host')?.dataset.ready ?? 0) > b, id, { timeout: 600_000 });
      await nextPaint();
      return Number(await page.locator('.graph-canvas-host').getAttribute('data-ready'));
    };
    let t0 = Date.now();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    let id = await drawnAfter(0);
    console.log(`transformer, ${nodes} nodes: page load → Graph tab drawn collapsed ${Date.now() - t0} ms (overview and graph catalog computed on the way); ` +
      `layout request ${await page.locator('.graph-canvas-host').getAttribute('data-layout-ms')} ms, first frame ${await frame()} ms`);
    t0 = Date.now();
    await page.click('vscode-button:has-text("Expand all")');
    id = await drawnAfter(id);
    console.log(`  Expand all → every node drawn: ${Date.now() - t0} ms (layout request ${await page.locator('.graph-canvas-host').getAttribute('data-layout-ms')} ms, ` +
      `frame ${await frame()} ms, ${await page.locator('canvas.graph-canvas').getAttribute('data-items')} boxes and frames)`);
    const box = (await page.locator('canvas.graph-canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const frames: number[] = [];
    for (let i = 0; i < 12; i++) {
      await page.mouse.wheel(0, i < 6 ? -240 : 240);
      await nextPaint();
      frames.push(Number(await frame()));
    }
    frames.sort((a, b) => a - b);
    console.log(`  frames while zooming in and out (whole graph loaded): median ${frames[6].toFixed(1)} ms, max ${frames[11].toFixed(1)} ms`);
  } finally {
    await browser.close();
    server.close();
  }
}
