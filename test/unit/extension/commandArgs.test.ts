import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { resourceArg, resourceArgs, toSelectedItems, treeElements } from '../../../extension/commands/commandArgs';
import { adapterLabel, parseWeight, roleOf } from '../../../extension/commands/loraArgs';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../../extension/host/webviewHtml';

const uri = (p: string) => ({ scheme: 'file', fsPath: p, path: p });
const seqA = { id: 'conv-bn:/a', pattern: 'conv-bn', nodes: ['/a', '/b'], modules: ['a', 'b'], folds: true, blocked: null, warnings: [] };
const seqB = { ...seqA, id: 'conv-bn:/c', nodes: ['/c', '/d'] };
const moduleNode = { path: 'layer1.conv', name: 'conv', children: [], nodes: ['/x'], opTypes: ['Conv'], parameterCount: 10, callSites: 1 };

test('tree context menu: the clicked element with its multi-selection', () => {
  assert.deepEqual(treeElements([seqA, [seqA, seqB]], () => []), [seqA, seqB]);
});

test('tree context menu on an element outside the selection acts on that element only', () => {
  assert.deepEqual(treeElements([seqB, [seqA]], () => []), [seqB]);
  assert.deepEqual(treeElements([seqB], () => []), [seqB], 'an inline button passes no selection');
});

test('palette: the views’ current selection', () => {
  assert.deepEqual(treeElements([], () => [moduleNode]), [moduleNode]);
});

test('selected elements become sequences and modules; anything else is ignored', () => {
  assert.deepEqual(toSelectedItems([seqA, moduleNode, uri('/x.onnx'), null, 3]), [
    { kind: 'sequence', id: 'conv-bn:/a' },
    { kind: 'module', path: 'layer1.conv' },
  ]);
});

test('editor title passes the resource first; the palette passes nothing', () => {
  assert.equal(resourceArg([uri('/m/model.onnx'), { groupId: 1 }])?.fsPath, '/m/model.onnx');
  assert.equal(resourceArg([]), undefined);
  assert.equal(resourceArg([seqA]), undefined);
});

test('Explorer multi-select: clicked resource first, no duplicates', () => {
  const a = uri('/w/adapter1');
  const b = uri('/w/adapter2');
  assert.deepEqual(resourceArgs([a, [a, b]]).map((u) => u.fsPath), ['/w/adapter1', '/w/adapter2']);
  assert.deepEqual(resourceArgs([b, [a]]).map((u) => u.fsPath), ['/w/adapter2', '/w/adapter1']);
  assert.deepEqual(resourceArgs([a]).map((u) => u.fsPath), ['/w/adapter1']);
  assert.deepEqual(resourceArgs([]), []);
});

test('LoRA roles: .onnx is a base, folders are adapters, .safetensors depends on its tensors', () => {
  assert.equal(roleOf(uri('/w/base.onnx'), false, undefined), 'base');
  assert.equal(roleOf(uri('/w/adapter'), true, undefined), 'adapter');
  assert.equal(roleOf(uri('/w/adapter_model.safetensors'), false, true), 'adapter');
  assert.equal(roleOf(uri('/w/model.safetensors'), false, false), 'base');
  assert.equal(roleOf(uri('/w/adapter_model.bin'), false, undefined), 'unsupported');
});

test('adapter weights: numbers (also negative), empty means 1, zero and text are refused', () => {
  assert.deepEqual(parseWeight(''), { weight: 1 });
  assert.deepEqual(parseWeight(' 0.5 '), { weight: 0.5 });
  assert.deepEqual(parseWeight('-1'), { weight: -1 });
  assert.deepEqual(parseWeight('1e-1'), { weight: 0.1 });
  assert.match((parseWeight('0') as { problem: string }).problem, /merges nothing/);
  assert.match((parseWeight('half') as { problem: string }).problem, /'half' is not a number/);
  assert.match((parseWeight('Infinity') as { problem: string }).problem, /not a number/);
  assert.equal(adapterLabel(path.join('/w', 'runs', 'adapter')), 'runs/adapter');
});

test('webview page: strict CSP with this page’s nonce, nothing remote, escaped title', () => {
  const nonce = makeNonce();
  assert.match(nonce, /^[0-9a-f]{32}$/);
  assert.notEqual(nonce, makeNonce());
  const csp = contentSecurityPolicy('https://res.vscode-cdn.net', nonce);
  assert.match(csp, /^default-src 'none'; /);
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'$`));
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  const html = webviewHtml({ title: '<img src=x onerror=alert(1)>.onnx', cspSource: 'vscode-resource:', nonce, scriptUri: 'vscode-resource:/dist/webview/overview.js', styleUris: ['vscode-resource:/media/overview.css'] });
  assert.ok(html.includes(`<script nonce="${nonce}" src="vscode-resource:/dist/webview/overview.js"></script>`));
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;.onnx'));
  assert.ok(!html.includes('<img'));
  assert.equal((html.match(/<script/g) ?? []).length, 1, 'exactly one script, the nonce’d bundle');
  assert.doesNotMatch(html, /https?:\/\//);
});
