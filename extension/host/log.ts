/**
 * The "ModelFuse" Output channel: every command logs what it did (inputs,
 * outputs, verification numbers) so a notification can stay one line and
 * "Show log" gives the details.
 */
import * as vscode from 'vscode';

let channel: vscode.LogOutputChannel | undefined;

export function log(): vscode.LogOutputChannel {
  return (channel ??= vscode.window.createOutputChannel('ModelFuse', { log: true }));
}

export function showLog(): void {
  log().show(true);
}

export function disposeLog(): void {
  channel?.dispose();
  channel = undefined;
}
