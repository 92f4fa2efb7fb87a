/**
 * Workspace Trust: in an untrusted workspace ModelFuse shows models but runs
 * nothing in ONNX Runtime and writes nothing (`capabilities.untrustedWorkspaces`
 * is `limited` in package.json). Every command that would write or execute
 * calls `requireTrust` first. The commands stay in the palette and menus
 * (a `enablement` clause would hide them from the palette): invoked, they say
 * why they are off, with a button to manage trust.
 */
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';

export const UNTRUSTED_REASON = 'This workspace is not trusted: ModelFuse only shows models here. Trust the workspace to fuse, merge or verify.';

/**
 * What the overview says in Restricted Mode: what is off, and what can still
 * change a file (only on an explicit click).
 */
export const RESTRICTED_MODE_NOTE =
  'Restricted Mode: ModelFuse shows this model but does not run ONNX Runtime and writes no model (Fuse, Merge LoRA Adapter and verification are off). ' +
  'Still editing files, only when you click them: the CodeLens “Insert fuse_model()” inserts text into a Python file, and “Verification Inputs…” saves the workspace settings. ' +
  'Trust the workspace to fuse or merge.';

/** The error a trust-gated command throws: its notification offers "Manage Workspace Trust". */
export class UntrustedWorkspaceError extends ModelFuseError {
  constructor(action: string) {
    super(`${action} is disabled in Restricted Mode: it runs ONNX Runtime and writes a model, and this workspace is not trusted. Trust the workspace to enable it.`);
    this.name = 'UntrustedWorkspaceError';
  }
}

export const MANAGE_TRUST = 'Manage Workspace Trust';

export function isTrusted(): boolean {
  return vscode.workspace.isTrusted;
}

export function requireTrust(action: string): void {
  if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError(action);
}
