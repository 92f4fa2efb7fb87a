/**
 * The Graph tab's webview bookkeeping (webview/graph/graphModel.ts) on the
 * worker's real answers for a real export: find by node name, module path and
 * op type; the modules to open to reveal a node; where each node is drawn.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import '../../../extension/workerProcess/handlers/index';
import { getHandler } from '../../../extension/workerProcess/registry';
import type { GraphCatalog, GraphDrawing } from '../../../extension/protocol/graphMethods';
import { DrawnGraph, findNodes, modulesToReveal, subtreeOf } from '../../../webview/graph/graphModel';
import { fixture } from '../helpers/fixtures';

const quiet = { id: 0, token: { cancelled: false, throwIfCancelled: () => undefined }, throwIfCancelled: () => undefined, progress: () => undefined };
const call = <T>(method: string, params: unknown) => (getHandler(method) as (p: unknown, c: typeof quiet) => Promise<T>)(params, quiet);
const MODEL = fixture('zoo_resstyle', 'model.onnx');

test('find matches node names, module paths and op types (exact op type first)', async () => {
  const catalog = await call<GraphCatalog>('graph/open', { path: MODEL });
  assert.equal(catalog.nodes.length, 20);
  assert.deepEqual(findNodes(catalog, 'blocks.1.conv2'), ['/conv2_1/Conv']);
  assert.deepEqual(findNodes(catalog, '/head/head.2/Relu'), ['/head/head.2/Relu']);
  const convs = findNodes(catalog, 'conv');
  assert.equal(convs.filter((id) => catalog.nodes.find((n) => n.id === id)!.op === 'Conv').length, 6);
  assert.ok(findNodes(catalog, 'add').slice(0, 2).every((id) => id.startsWith('/Add')), 'exact op type matches come first');
  assert.deepEqual(findNodes(catalog, '   '), []);
});

test('revealing a node opens its module chain, and the drawn graph then shows the node itself', async () => {
  const catalog = await call<GraphCatalog>('graph/open', { path: MODEL });
  const collapsed = new DrawnGraph(catalog, await call<GraphDrawing>('graph/layout', { path: MODEL, expanded: catalog.defaultExpanded }));
  assert.equal(collapsed.repOf.get('/conv2/Conv'), 'module:blocks');
  assert.deepEqual(collapsed.itemsOfSequence(['/conv2/Conv', '/bn2/BatchNormalization']), ['module:blocks']);
  const open = modulesToReveal(catalog, '/conv2/Conv');
  assert.deepEqual(open, ['blocks.0.conv2', 'blocks.0', 'blocks', '']);
  const drawn = new DrawnGraph(catalog, await call<GraphDrawing>('graph/layout', { path: MODEL, expanded: open }));
  assert.equal(drawn.repOf.get('/conv2/Conv'), '/conv2/Conv');
  assert.equal(drawn.repOf.get('/conv2_1/Conv'), 'module:blocks.1', 'the other block stays collapsed');
  assert.deepEqual(subtreeOf(catalog, 'blocks').sort(), catalog.modules.map((m) => m.path).filter((p) => p === 'blocks' || p.startsWith('blocks.')).sort());
});
