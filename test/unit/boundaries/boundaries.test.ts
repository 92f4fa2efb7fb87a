/**
 * The layer boundaries are enforced, not just drawn: each check here plants a
 * violation in memory and asserts the tool that guards it (ESLint's import
 * rules, the target's tsconfig) rejects it, and that the same import in the
 * allowed place passes — so a rule that silently stopped matching fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '../../..');

async function importErrors(file: string, code: string): Promise<string[]> {
  const { ESLint } = await import('eslint');
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: { file: string; code: string; forbidden: boolean; why: string }[] = [
  { file: 'extension/engine/fusion/planted.ts', code: "import type { VerifyParams } from '../../protocol/workerProtocol';", forbidden: true, why: 'the engine never imports protocol/' },
  { file: 'extension/engine/fusion/planted.ts', code: "import * as vscode from 'vscode';", forbidden: true, why: 'the engine never imports vscode' },
  { file: 'extension/engine/fusion/planted.ts', code: "import { treeItems } from '../../views/treeModel';", forbidden: true, why: 'the engine never imports the host glue' },
  { file: 'extension/engine/fusion/planted.ts', code: "import { num } from '../../../shared/format';", forbidden: false, why: 'the engine may use shared/' },
  { file: 'extension/engine/stats/planted.ts', code: "import * as ort from 'onnxruntime-node';", forbidden: true, why: 'ONNX Runtime lives in the worker' },
  { file: 'webview/overview/planted.ts', code: "import { fusibility } from '../../extension/engine/fusion/fusibility';", forbidden: true, why: 'webviews never import the engine' },
  { file: 'webview/overview/planted.ts', code: "import * as fs from 'node:fs';", forbidden: true, why: 'webviews run in a browser' },
  { file: 'webview/overview/planted.ts', code: "import type { ModelOverview } from '../../extension/protocol/modelOverview';", forbidden: false, why: 'webviews read protocol/' },
  { file: 'extension/views/planted.ts', code: "import { h } from '../../webview/shared/dom';", forbidden: true, why: 'the host never imports webview code' },
  { file: 'extension/views/planted.ts', code: "import { bytes } from '../../shared/format';", forbidden: false, why: 'the host may use shared/' },
  { file: 'shared/planted.ts', code: "import { ModelFuseError } from '../extension/engine/errors';", forbidden: true, why: 'shared/ imports nothing outside itself' },
  { file: 'extension/protocol/planted.ts', code: "import * as path from 'node:path';", forbidden: true, why: 'protocol/ is read by webviews too' },
  { file: 'extension/cli/planted.ts', code: "import { runOrt } from '../workerProcess/ort/run';", forbidden: true, why: 'the CLI talks to the worker process through its client' },
  { file: 'extension/cli/planted.ts', code: "import { WorkerClient } from '../workerClient/client';", forbidden: false, why: 'the CLI starts the worker through its client' },
  { file: 'extension/host/planted.ts', code: "import { registerHandler } from '../workerProcess/registry';", forbidden: true, why: 'the host talks to the worker process through its client' },
];

for (const c of cases) {
  test(`import boundaries: ${c.forbidden ? 'refused' : 'allowed'} — ${c.why} (${c.file}: ${c.code})`, async () => {
    const errors = await importErrors(c.file, c.code);
    if (c.forbidden) assert.ok(errors.length > 0, `expected a no-restricted-imports error for ${c.code} in ${c.file}`);
    else assert.deepEqual(errors, []);
  });
}

/** Type-checks one planted file with a target's compiler options (the target's tsconfig, only its own files swapped for the plant). */
function typeErrors(tsconfig: string, file: string, code: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, tsconfig), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(String(d.messageText)),
  });
  assert.ok(parsed);
  const planted = path.join(ROOT, file);
  const host = ts.createCompilerHost(parsed.options);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === planted ? code : readFile(f));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === planted || fileExists(f);
  const program = ts.createProgram([planted], parsed.options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('tsconfig.engine.json: engine code using the DOM or importing vscode does not compile; Node does', () => {
  assert.ok(typeErrors('tsconfig.engine.json', 'extension/engine/planted.ts', 'export const t = document.title;').some((m) => /Cannot find name 'document'/.test(m)));
  assert.ok(typeErrors('tsconfig.engine.json', 'extension/engine/planted.ts', "import * as vscode from 'vscode';\nexport const w = vscode.window;").some((m) => /Property 'window' does not exist/.test(m)));
  assert.deepEqual(typeErrors('tsconfig.engine.json', 'extension/engine/planted.ts', "import * as fs from 'node:fs';\nexport const e = fs.existsSync('x') && Buffer.alloc(1);"), []);
});

test('tsconfig.webview.json: webview code using Node or vscode does not compile, nor does an engine file it reaches that uses Node', () => {
  assert.ok(typeErrors('tsconfig.webview.json', 'webview/planted.ts', 'export const b = Buffer.alloc(1);').some((m) => /Cannot find name 'Buffer'/.test(m)));
  assert.ok(typeErrors('tsconfig.webview.json', 'webview/planted.ts', "import type { Uri } from 'vscode';\nexport type U = Uri;").some((m) => /has no exported member 'Uri'/.test(m)));
  assert.ok(typeErrors('tsconfig.webview.json', 'webview/planted.ts', "import type { OnnxModel } from '../extension/engine/onnx/model';\nexport type M = OnnxModel;").some((m) => /node:|Buffer|NodeJS|process/.test(m)));
  assert.deepEqual(typeErrors('tsconfig.webview.json', 'webview/planted.ts', "import type { ModelOverview } from '../extension/protocol/modelOverview';\nexport const t: ModelOverview['kind'] | string = document.title;"), []);
});

test('tsconfig.host.json: the host has vscode and Node but not the DOM', () => {
  assert.ok(typeErrors('tsconfig.host.json', 'extension/views/planted.ts', 'export const t = document.title;').some((m) => /Cannot find name 'document'/.test(m)));
  assert.deepEqual(typeErrors('tsconfig.host.json', 'extension/views/planted.ts', "import * as vscode from 'vscode';\nexport const w = vscode.window && process.pid;"), []);
});

test('the tree as it is passes the import rules (npm run lint checks the rest)', async () => {
  const { ESLint } = await import('eslint');
  const eslint = new ESLint({ cwd: ROOT });
  const results = await eslint.lintFiles(['extension', 'webview', 'shared']);
  const broken = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${path.relative(ROOT, r.filePath)}:${m.line} ${m.message}`));
  assert.deepEqual(broken, []);
});
