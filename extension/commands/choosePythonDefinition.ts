/**
 * "Name Modules from a Python Definition…": the user points at the .py file that defines the open
 * model; its classes name the BatchNorms the exporter folded into Convs (the CLI's `--python`).
 * The choice is remembered per model; choosing again offers another file or to stop using it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
import { ModelFuseError } from '../engine/errors';
import type { ModelDocument } from '../editor/modelDocument';
import type { UriLike } from './commandArgs';
import { targetOnnx, type CommandContext } from './commandContext';

export const CHOOSE_PYTHON_DEFINITION = 'modelfuse.choosePythonDefinition';

export function registerChoosePythonDefinition(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    CHOOSE_PYTHON_DEFINITION,
    guarded('choosing the Python definition', async (resource?: UriLike) => {
      await choosePythonDefinition(ctx, targetOnnx(ctx, resource, vscode.l10n.t('naming modules from a Python definition')).doc);
    }),
  );
}

export async function choosePythonDefinition(ctx: CommandContext, doc: ModelDocument): Promise<void> {
  const definitions = ctx.pythonDefinitions;
  const current = definitions.chosenFor(doc.path);
  if (current) {
    const choose = { label: vscode.l10n.t('Choose another Python file…') };
    const drop = { label: vscode.l10n.t('Stop using {0}', path.basename(current)), description: current };
    const pick = await vscode.window.showQuickPick([choose, drop], { title: vscode.l10n.t('Module names of {0} come from {1}', doc.fileName, path.basename(current)) });
    if (!pick) return;
    if (pick === drop) {
      await definitions.choose(doc.path, undefined);
      await doc.reload();
      return;
    }
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    filters: { Python: ['py'] },
    defaultUri: vscode.Uri.file(path.dirname(current ?? doc.path)),
    openLabel: vscode.l10n.t('Name modules from this file'),
    title: vscode.l10n.t('The Python file that defines {0}', doc.fileName),
  });
  if (!picked?.[0]) return;
  // A file that is not Python (binary, unreadable) is refused here, with its name, and not remembered.
  const definition = await definitions.analyse(picked[0].fsPath);
  if (definition.classes.length === 0) throw new ModelFuseError(vscode.l10n.t('{0}: defines no class, so it cannot name the modules of {1}', picked[0].fsPath, doc.fileName));
  const unnamedBefore = unnamedBatchNorms(doc);
  await definitions.choose(doc.path, picked[0].fsPath);
  await doc.reload();
  void vscode.window.showInformationMessage(namingOutcome(doc, path.basename(picked[0].fsPath), unnamedBefore));
}

/** How many Convs carry a BatchNorm the exporter folded without a name (undefined until the overview is there). */
function unnamedBatchNorms(doc: ModelDocument): number | undefined {
  const o = doc.overview;
  return o?.kind === 'onnx' ? o.candidates.filter((c) => c.details?.unnamedBatchNorm).length : undefined;
}

/**
 * What the definition named: of the folded BatchNorms that had no name before, how many have one now
 * (a dynamo export names its folded BatchNorms itself: those are not the file's doing).
 */
function namingOutcome(doc: ModelDocument, file: string, before: number | undefined): string {
  const after = unnamedBatchNorms(doc);
  if (before === undefined || after === undefined) return vscode.l10n.t('{0} will name the modules of {1} once it opens', file, doc.fileName);
  if (before === 0) return vscode.l10n.t('{0}: no BatchNorm the exporter folded was without a name, so there was nothing for {1} to name', doc.fileName, file);
  const named = vscode.l10n.t('{0} named {1} of the {2} BatchNorms the exporter folded without names in {3}.', file, Math.max(0, before - after), before, doc.fileName);
  return after ? `${named} ${vscode.l10n.t('The others say why in their status.')}` : named;
}
