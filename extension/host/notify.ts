/**
 * How the extension reports an outcome: one notification line, the details
 * in the log. User errors (ModelFuseError: a corrupt file, a refused output)
 * show their own message; anything else is a bug and says so; a cancel is
 * logged, not shown as an error.
 */
import * as vscode from 'vscode';
import { CancelledError, detailOf, ModelFuseError } from '../engine/errors';
import { RemoteError } from '../../shared/messagePeer';
import { log, showLog } from './log';
import { vscodeErrorText } from './remedyText';
import { MANAGE_TRUST, UntrustedWorkspaceError } from './trust';

const SHOW_LOG = 'Show log';

/** The one line a user sees for an error thrown while doing `what` ("fusing model.onnx"). */
export function errorLine(what: string, err: unknown): string {
  if (err instanceof ModelFuseError) return vscodeErrorText(err);
  if (err instanceof RemoteError) return err.message;
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return `Internal error while ${what}: ${message}`;
}

export function isCancellation(err: unknown): boolean {
  return err instanceof CancelledError || (err instanceof vscode.CancellationError);
}

/** Logs the error (with its stack when it is a bug) and shows one notification with "Show log". */
export async function reportError(what: string, err: unknown): Promise<void> {
  if (isCancellation(err)) {
    log().info(`${what}: cancelled`);
    return;
  }
  const line = errorLine(what, err);
  if (err instanceof UntrustedWorkspaceError) {
    // Not a failure: the command explains why it is off in Restricted Mode.
    log().info(`${what}: ${line}`);
    if ((await vscode.window.showWarningMessage(line, MANAGE_TRUST)) === MANAGE_TRUST) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
  if (err instanceof ModelFuseError) log().error(`${what}: ${line}${detailOf(err)}`);
  else log().error(`${what}: ${err instanceof Error && err.stack ? err.stack : line}`);
  const choice = await vscode.window.showErrorMessage(line, SHOW_LOG);
  if (choice === SHOW_LOG) showLog();
}

/** Runs a command body; any error becomes `reportError`. Commands never throw into VS Code (which would show a raw stack). */
export function guarded<A extends unknown[]>(what: string, body: (...args: A) => Promise<unknown> | unknown): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (err) {
      // Not awaited: the command is over; the notification stays until the user dismisses it.
      void reportError(what, err);
    }
  };
}

/** Like `guarded`, but re-throws after reporting (for webview requests, whose page shows the error inline as well). Cancellation is not an error. */
export function guardedRethrow<A extends unknown[]>(what: string, body: (...args: A) => Promise<unknown> | unknown): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (err) {
      if (isCancellation(err)) return;
      void reportError(what, err);
      throw new Error(errorLine(what, err));
    }
  };
}
