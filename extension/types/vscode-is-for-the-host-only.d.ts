// tsconfig.engine.json and tsconfig.webview.json resolve `vscode` to this file instead of
// @types/vscode: code of those targets must run without VS Code (the CLI, the worker, a
// browser), so any use of the API fails to compile — `Property 'window' does not exist`.
// (A path mapping to a missing file would not do: TypeScript then falls back to node_modules.)
export declare const VSCODE_IS_FOR_THE_HOST_ONLY: never;
