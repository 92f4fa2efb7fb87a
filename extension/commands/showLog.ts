/** "Show Log": the ModelFuse Output channel. */
import * as vscode from 'vscode';
import { showLog } from '../host/log';

export const SHOW_LOG = 'modelfuse.showLog';

export function registerShowLog(): vscode.Disposable {
  return vscode.commands.registerCommand(SHOW_LOG, () => showLog());
}
