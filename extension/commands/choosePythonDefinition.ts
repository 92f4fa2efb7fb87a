/**
 * "Name Modules from a Python Definition…": the user points at the .py file that defines the open
 * model; its classes name the BatchNorms the exporter folded into Convs (the CLI's `--python`).
 * The choice is remembered per model; choosing again offers another file or to stop using it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
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
  await definitions.choose(doc.path, picked[0].fsPath);
  await doc.reload();
  void vscode.window.showInformationMessage(namingOutcome(doc, path.basename(picked[0].fsPath)));
}

/** What the definition named: the BatchNorms the exporter folded, how many of them it named. */
function namingOutcome(doc: ModelDocument, file: string): string {
  const o = doc.overview;
  if (!o || o.kind !== 'onnx') return vscode.l10n.t('{0} will name the modules of {1} once it opens', file, doc.fileName);
  const folded = o.candidates.filter((c) => c.details?.foldedByExporter);
  if (folded.length === 0) return vscode.l10n.t('{0}: its exporter folded no BatchNorm away, so there was nothing for {1} to name', doc.fileName, file);
  const unnamed = folded.filter((c) => c.details?.unnamedBatchNorm).length;
  const named = vscode.l10n.t('{0} named {1} of the {2} BatchNorms the exporter folded into Convs of {3}.', file, folded.length - unnamed, folded.length, doc.fileName);
  return unnamed ? `${named} ${vscode.l10n.t('The others say why in their status.')}` : named;
}
