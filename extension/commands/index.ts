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
import { registerDeleteResults } from './deleteResults';
import { registerShowLog } from './showLog';
import { choosePythonDefinition, registerChoosePythonDefinition } from './choosePythonDefinition';

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return [
    registerFuseSelected(ctx),
    registerFuseAllSafe(ctx),
    registerMergeLora(ctx),
    registerCopyFuseList(ctx),
    registerRefresh(ctx),
    registerShowLog(),
    registerDeleteResults(),
    registerChoosePythonDefinition(ctx),
  ];
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
      if (!o || o.kind !== 'onnx') throw new ModelFuseError(vscode.l10n.t('{0}: not an ONNX model', doc.path));
      await fuseInModel(doc, resolveFuseSelection(candidateIds.map((id) => ({ kind: 'sequence' as const, id })), o.candidates));
    }),
    fuseAllSafe: guardedRethrow('fusing all safe sequences', (doc) => fuseAllSafe(doc)),
    copyFuseList: guardedRethrow('copying the PyTorch fuse list', (doc) => copyFuseList(doc)),
    choosePythonDefinition: guardedRethrow('choosing the Python definition', (doc) => choosePythonDefinition(ctx, doc)),
    onSequenceSelection: (listener) => ctx.views.sequences.onDidChangeSelection((e) => listener(e.selection.map((c) => c.id))),
    selectInSidePanel: async (doc, candidateId) => {
      const o = doc.overview;
      // The tree's elements are the overview's candidate objects; reveal needs that very object.
      const c = o?.kind === 'onnx' ? o.candidates.find((x) => x.id === candidateId) : undefined;
      if (c && ctx.views.sequences.visible && ctx.registry.active === doc) await ctx.views.sequences.reveal(c, { select: true, focus: false });
    },
    reveal: guardedRethrow('revealing the sequence', async (doc, candidateId: string) => {
      if (ctx.registry.active !== doc) throw new ModelFuseError(vscode.l10n.t('{0}: focus its editor first', doc.path));
      if (!(await ctx.views.revealSequence(candidateId))) throw new ModelFuseError(vscode.l10n.t('sequence {0} is no longer in the model; refresh', candidateId));
    }),
  };
}
