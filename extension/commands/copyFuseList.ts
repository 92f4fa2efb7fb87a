/** "Copy PyTorch Fuse List": the `torch.ao.quantization.fuse_modules` call for the groups PyTorch fuses safely. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import { guarded } from '../host/notify';
import { log } from '../host/log';
import type { ModelDocument } from '../editor/modelDocument';
import { targetOnnx, type CommandContext } from './commandContext';
import { resourceArg } from './commandArgs';

export const COPY_FUSE_LIST = 'modelfuse.copyFuseList';

export function registerCopyFuseList(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    COPY_FUSE_LIST,
    guarded('copying the PyTorch fuse list', async (...args: unknown[]) => {
      const { doc } = targetOnnx(ctx, resourceArg(args), 'Copy PyTorch fuse list');
      await copyFuseList(doc);
    }),
  );
}

export async function copyFuseList(doc: ModelDocument): Promise<void> {
  const o = doc.overview;
  if (!o || o.kind !== 'onnx') return;
  if (!o.fuseList) throw new ModelFuseError(vscode.l10n.t('{0}: no fuse list, the scan failed{1}', doc.path, o.scanProblem ? `: ${o.scanProblem}` : ''));
  await vscode.env.clipboard.writeText(o.fuseList.python);
  const { groups, excluded } = o.fuseList;
  log().info(`copied the fuse_modules call for ${doc.path}:\n${o.fuseList.python}`);
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Copied fuse_modules for {0}: {1} group{2}{3}.', path.basename(doc.path), groups.length, groups.length === 1 ? '' : 's', excluded.length ? `; ${excluded.length} left out (listed as comments with the reason)` : ''),
  );
}
