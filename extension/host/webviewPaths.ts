/**
 * The folders whose absolute paths are replaced before a message reaches a
 * webview (see pathRedaction.ts): the workspace folders (paths become
 * workspace-relative), the extension's storage (where the walkthrough's
 * samples live), the extension itself, the temporary folder and the home
 * folder; plus the folders of the files a page is about.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { redactPaths, type PathRoot } from './pathRedaction';

let extensionRoots: PathRoot[] = [];

/** Called once at activation. */
export function initWebviewPaths(context: vscode.ExtensionContext): void {
  extensionRoots = [
    { folder: context.globalStorageUri.fsPath, shownAs: 'ModelFuse storage/' },
    { folder: context.extensionUri.fsPath, shownAs: 'ModelFuse/' },
  ];
}

function webviewPathRoots(fileFolders: readonly string[] = []): PathRoot[] {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const workspace = folders.map((f) => ({ folder: f.uri.fsPath, shownAs: folders.length === 1 ? '' : `${f.name}/` }));
  const known = [...workspace, ...extensionRoots];
  // A model outside the workspace and the extension's folders is shown by its name alone.
  const files = fileFolders.filter((folder) => !known.some((r) => isInside(folder, r.folder))).map((folder) => ({ folder, shownAs: '' }));
  return [...known, ...files, { folder: trimmed(os.tmpdir()), shownAs: 'tmp/' }, { folder: trimmed(os.homedir()), shownAs: '~/' }];
}

/** What a webview may be sent: `message` with the paths under the roots replaced; `files` are the models the page is about. */
export function forWebview<T>(message: T, files: readonly string[] = []): T {
  return redactPaths(message, webviewPathRoots(files.map((f) => path.dirname(f))));
}

function isInside(folder: string, root: string): boolean {
  const rel = path.relative(root, folder);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function trimmed(folder: string): string {
  return folder.length > 1 ? folder.replace(/[\\/]+$/, '') : folder;
}
