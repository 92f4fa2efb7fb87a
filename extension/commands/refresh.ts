/** "Refresh": reads the active model again (the file watcher does this on changes; this is for anything it missed). */
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
import type { CommandContext } from './commandContext';

export const REFRESH = 'modelfuse.refresh';

export function registerRefresh(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    REFRESH,
    guarded('refreshing the model', async () => {
      await ctx.registry.active?.reload();
      ctx.views.update(true);
    }),
  );
}
