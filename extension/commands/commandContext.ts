/** What every command needs from the extension, and the checks they share. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { ModelRegistry } from '../editor/modelRegistry';
import type { ModelDocument } from '../editor/modelDocument';
import type { ModelTreeViews } from '../views/modelTreeViews';
import type { OnnxOverview } from '../protocol/modelOverview';
import type { UriLike } from './commandArgs';
import type { PythonDefinitions } from '../editor/pythonDefinitions';

export interface CommandContext {
  registry: ModelRegistry;
  views: ModelTreeViews;
  extensionUri: vscode.Uri;
  /** The Python file the user chose for each model (names the BatchNorms its exporter folded). */
  pythonDefinitions: PythonDefinitions;
}

/** The ONNX model a command acts on: the one it was invoked on (editor title), else the active one. */
export function targetOnnx(ctx: CommandContext, resource: UriLike | undefined, action: string): { doc: ModelDocument; overview: OnnxOverview } {
  const doc = resource ? ctx.registry.find(vscode.Uri.file(resource.fsPath)) : ctx.registry.active;
  if (!doc) {
    throw new ModelFuseError(resource ? `${resource.fsPath}: open it in the ModelFuse editor first (${action})` : `${action}: open an ONNX model first`);
  }
  const s = doc.state;
  if (s.phase === 'loading') throw new ModelFuseError(vscode.l10n.t('{0}: still reading the model; try again when its overview is shown', doc.path));
  if (s.phase === 'error') throw new ModelFuseError(s.message);
  if (s.overview.kind !== 'onnx') throw new ModelFuseError(vscode.l10n.t('{0}: {1} needs an ONNX model ({2} files hold tensors only)', doc.path, action, path.extname(doc.path)));
  if (doc.busy) throw new ModelFuseError(vscode.l10n.t('{0}: {1} — wait for it to finish', doc.path, doc.busy));
  return { doc, overview: s.overview };
}
