/** "Fuse Selected Modules": the sequences and modules selected in the ModelFuse views (multi-select, context menu or palette). */
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import { guarded } from '../host/notify';
import { targetOnnx, type CommandContext } from './commandContext';
import { toSelectedItems, treeElements } from './commandArgs';
import { resolveFuseSelection } from './fuseSelection';
import { fuseInModel } from './fuseWorkflow';

export const FUSE_SELECTED = 'modelfuse.fuseSelected';

export function registerFuseSelected(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    FUSE_SELECTED,
    guarded('fusing the selected modules', async (...args: unknown[]) => {
      const elements = treeElements(args, () => [...ctx.views.sequences.selection, ...ctx.views.modules.selection]);
      const items = toSelectedItems(elements);
      if (items.length === 0) throw new ModelFuseError(vscode.l10n.t('Fuse selected modules: select sequences or modules in the ModelFuse view first'));
      const { doc, overview } = targetOnnx(ctx, undefined, 'Fuse selected modules');
      await fuseInModel(doc, resolveFuseSelection(items, overview.candidates));
    }),
  );
}
