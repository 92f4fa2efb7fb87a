/**
 * Workspace Trust: in an untrusted workspace ModelFuse shows models but runs
 * nothing in ONNX Runtime and writes nothing (`capabilities.untrustedWorkspaces`
 * is `limited` in package.json). Every command that would write or execute
 * calls `requireTrust` first.
 */
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';

export const UNTRUSTED_REASON = 'This workspace is not trusted: ModelFuse only shows models here. Trust the workspace to fuse, merge or verify.';

export function isTrusted(): boolean {
  return vscode.workspace.isTrusted;
}

export function requireTrust(action: string): void {
  if (!vscode.workspace.isTrusted) throw new ModelFuseError(`${action}: ${UNTRUSTED_REASON}`);
}
