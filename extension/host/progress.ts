/**
 * A cancellable progress notification that is gone when the task's result is
 * shown. VS Code keeps a progress notification on screen for at least 800 ms
 * (workbench progressService: "show the notification for at least 800ms to
 * reduce the chance of the notification flashing up and hiding"), so a fuse
 * that takes 0.5 s would otherwise show its summary beside a still-spinning
 * "fusing…" toast. This resolves only once that toast has closed.
 */
import * as vscode from 'vscode';

/** VS Code's minimum display time of a progress notification, plus a margin for the close to render. */
const PROGRESS_TOAST_MIN_MS = 800 + 150;

export async function withProgressNotification<T>(
  title: string,
  task: (progress: vscode.Progress<{ message?: string; increment?: number }>, token: vscode.CancellationToken) => Promise<T>,
): Promise<T> {
  const started = Date.now();
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, task);
  } finally {
    const left = PROGRESS_TOAST_MIN_MS - (Date.now() - started);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  }
}
