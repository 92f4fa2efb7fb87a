// ESLint: the import boundaries between ModelFuse's layers, and a line-length limit.
// Type errors are tsc's job (one tsconfig per target, see tsconfig.base.json); this file says
// who may import whom, which the compiler cannot:
//
//   shared/               browser-safe helpers of host and webviews (format, the message peer): imports nothing
//   extension/engine/     the heart, pure TypeScript: imports only shared/
//   extension/protocol/   wire types: composes the engine's report types; no Node, no vscode
//   extension/workerProcess/  the ONNX Runtime child process (handlers, ort/)
//   extension/workerClient/   the host's and the CLI's client for it
//   extension/cli/        the headless front end
//   extension/ (the rest) the VS Code host glue: may use everything above, never webview/
//   webview/              the UIs: only protocol/ and shared/
//
// `npm test` runs it (`npm run lint`); test/unit/boundaries plants violations and checks they fail.
import tseslint from 'typescript-eslint';
import stylistic from '@stylistic/eslint-plugin';

const NODE_BUILTINS = '^(node:|(fs|path|os|child_process|crypto|worker_threads|util|stream|events|url|zlib|net|http|https)(/|$))';
const HOST_FOLDERS = '(commands|views|editor|host|walkthrough|pythonEditor)';

/** One `no-restricted-imports` rule from [regex, why] pairs. */
function forbid(...rules) {
  return ['error', { patterns: rules.map(([regex, message]) => ({ regex, message })) }];
}

const noVscode = ['^vscode$', 'vscode is for the host only (extension/ glue): this layer must run without VS Code.'];
const noNode = [NODE_BUILTINS, 'this code also runs in webviews (a browser): no Node modules.'];
const noOrt = ['^onnxruntime-(node|common)$', 'ONNX Runtime is loaded only in the worker process (extension/workerProcess/ort).'];
const noWebview = ['(^|/)webview/', 'host and webviews meet only in shared/ and protocol/.'];
const noHost = [`(^|/)\\.\\./(\\.\\./)*${HOST_FOLDERS}/`, 'the VS Code glue sits on top: nothing below imports it.'];
const noCli = ['(^|/)cli(/|$)', 'the CLI is a front end: nothing else imports it.'];
const noWorkerProcess = ['(^|/)workerProcess(/|$)', 'the worker process is reached through its client (extension/workerClient/), never imported.'];

export default [
  { ignores: ['dist/**', 'node_modules/**', 'extension/engine/onnx/generated/**', 'media/**', '.vscode-test/**'] },
  {
    files: ['**/*.ts', '**/*.mjs'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@stylistic': stylistic, '@typescript-eslint': tseslint.plugin },
    rules: {
      '@stylistic/max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(noVscode, noNode, noOrt, ['^\\.\\./', 'shared/ is the bottom layer: it imports nothing outside itself.']) },
  },
  {
    files: ['extension/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(noVscode, noOrt, noWebview, noHost, noCli, noWorkerProcess,
        ['(^|/)protocol/', 'the engine owns its reports; protocol/ re-exports them, never the other way.'],
        ['(^|/)worker(Client|Process)?/', 'the engine is below the worker: it never imports it.']),
    },
  },
  {
    files: ['extension/protocol/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(noVscode, noNode, noOrt, noWebview, noHost, noCli, noWorkerProcess, ['(^|/)workerClient/', 'protocol/ is types the worker and its clients share.']) },
  },
  {
    files: ['extension/worker*/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(noVscode, noWebview, noHost, noCli) },
  },
  {
    files: ['extension/cli/**/*.ts', 'extension/cli.ts'],
    rules: { 'no-restricted-imports': forbid(noVscode, noOrt, noWebview, noHost, noWorkerProcess) },
  },
  {
    files: ['extension/{commands,views,editor,host,walkthrough,pythonEditor}/**/*.ts', 'extension/extension.ts'],
    rules: { 'no-restricted-imports': forbid(noOrt, noWebview, noWorkerProcess) },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(noVscode, noNode, noOrt,
        ['(^|/)extension/(?!protocol/)', 'webviews see the engine only through protocol/ (its plain report types) and shared/.']),
    },
  },
];
