/** "Fuse All Safe Sequences": every sequence that folds exactly and is not blocked (view title, editor title, palette). */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
import type { ModelDocument } from '../editor/modelDocument';
import { targetOnnx, type CommandContext } from './commandContext';
import { resourceArg } from './commandArgs';
import { allSafeIds } from './fuseSelection';
import { fuseInModel } from './fuseWorkflow';

export const FUSE_ALL_SAFE = 'modelfuse.fuseAllSafe';

export function registerFuseAllSafe(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    FUSE_ALL_SAFE,
    guarded('fusing all safe sequences', async (...args: unknown[]) => {
      const { doc } = targetOnnx(ctx, resourceArg(args), 'Fuse all safe sequences');
      await fuseAllSafe(doc);
    }),
  );
}

export async function fuseAllSafe(doc: ModelDocument): Promise<void> {
  const o = doc.overview;
  if (!o || o.kind !== 'onnx') return;
  const ids = allSafeIds(o.candidates);
  if (ids.length === 0) {
    const blocked = o.candidates.filter((c) => c.blocked !== null).length;
    const grouping = o.candidates.filter((c) => c.blocked === null && !c.folds).length;
    void vscode.window.showInformationMessage(
      vscode.l10n.t('{0}: no sequence can be folded in ONNX{1}.', path.basename(doc.path), o.candidates.length ? ` (${blocked} blocked, ${grouping} grouping-only — see the Fusible Sequences view)` : ''),
    );
    return;
  }
  await fuseInModel(doc, { ids, refused: [] });
}
