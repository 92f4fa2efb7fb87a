/** Registers every command (one file each) and gives the overview editor its button actions. */
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { OverviewCommands } from '../editor/modelEditorProvider';
import { guardedRethrow } from '../host/notify';
import type { CommandContext } from './commandContext';
import { copyFuseList, registerCopyFuseList } from './copyFuseList';
import { fuseAllSafe, registerFuseAllSafe } from './fuseAllSafe';
import { registerFuseSelected } from './fuseSelected';
import { resolveFuseSelection } from './fuseSelection';
import { fuseInModel } from './fuseWorkflow';
import { registerMergeLora } from './mergeLora';
import { registerRefresh } from './refresh';
import { registerShowLog } from './showLog';

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return [registerFuseSelected(ctx), registerFuseAllSafe(ctx), registerMergeLora(ctx), registerCopyFuseList(ctx), registerRefresh(ctx), registerShowLog()];
}

/**
 * The overview's buttons run the same code as the commands. Errors are
 * reported (notification + log) here and re-thrown so the webview can show
 * them inline next to the button too.
 */
export function overviewCommands(ctx: CommandContext): OverviewCommands {
  return {
    fuse: guardedRethrow('fusing', async (doc, candidateIds: string[]) => {
      const o = doc.overview;
      if (!o || o.kind !== 'onnx') throw new ModelFuseError(`${doc.path}: not an ONNX model`);
      await fuseInModel(doc, resolveFuseSelection(candidateIds.map((id) => ({ kind: 'sequence' as const, id })), o.candidates));
    }),
    fuseAllSafe: guardedRethrow('fusing all safe sequences', (doc) => fuseAllSafe(doc)),
    copyFuseList: guardedRethrow('copying the PyTorch fuse list', (doc) => copyFuseList(doc)),
    reveal: guardedRethrow('revealing the sequence', async (doc, candidateId: string) => {
      if (ctx.registry.active !== doc) throw new ModelFuseError(`${doc.path}: focus its editor first`);
      if (!(await ctx.views.revealSequence(candidateId))) throw new ModelFuseError(`sequence ${candidateId} is no longer in the model; refresh`);
    }),
  };
}
