/**
 * "ModelFuse: Delete Fused Results…": lists the fused and merged models
 * ModelFuse wrote in this workspace (ResultLedger) that are still exactly as
 * written, lets the user check some, confirms, and deletes their files (with
 * external data or shards). Files ModelFuse did not write — or that changed
 * since — are never offered.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
import { requireTrust } from '../host/trust';
import { log } from '../host/log';
import { results } from '../host/results';
import { bytes } from '../../shared/format';

export const DELETE_RESULTS = 'modelfuse.deleteResults';

export function registerDeleteResults(): vscode.Disposable {
  return vscode.commands.registerCommand(
    DELETE_RESULTS,
    guarded('deleting fused results', async () => {
      requireTrust('Delete fused results');
      const { ours, changed } = await results().current();
      const changedNote = changed.length ? ` (${changed.length} changed since ModelFuse wrote ${changed.length === 1 ? 'it is' : 'them are'} not offered)` : '';
      if (ours.length === 0) {
        void vscode.window.showInformationMessage(`ModelFuse: no fused or merged results of ModelFuse to delete in this workspace${changedNote}.`);
        return;
      }
      type Item = vscode.QuickPickItem & { entry: (typeof ours)[number] };
      const items: Item[] = ours
        .sort((a, b) => b.writtenAt.localeCompare(a.writtenAt))
        .map((e) => ({
          label: `$(file) ${path.basename(e.path)}`,
          description: `${e.kind === 'fuse' ? 'fused' : 'merged'} from ${path.basename(e.source)} · ${bytes(e.files.reduce((n, f) => n + f.size, 0))}${e.files.length > 1 ? ` in ${e.files.length} files` : ''}`,
          detail: `${vscode.workspace.asRelativePath(e.path)} · written ${new Date(e.writtenAt).toLocaleString()}`,
          entry: e,
        }));
      const picks = await vscode.window.showQuickPick(items, {
        title: 'ModelFuse: delete fused results',
        placeHolder: `Check the results to delete${changedNote}`,
        canPickMany: true,
        matchOnDetail: true,
        // Opened from the palette over a model's webview, which takes the focus back a moment later.
        ignoreFocusOut: true,
      });
      if (!picks) return;
      if (picks.length === 0) {
        void vscode.window.showInformationMessage('ModelFuse: no result was checked, so nothing was deleted.');
        return;
      }
      const files = picks.flatMap((p) => p.entry.files.map((f) => f.path));
      const ok = await vscode.window.showWarningMessage(
        `Delete ${picks.length} result${picks.length === 1 ? '' : 's'} written by ModelFuse (${files.length} file${files.length === 1 ? '' : 's'})?`,
        { modal: true, detail: files.map((f) => vscode.workspace.asRelativePath(f)).join('\n') },
        'Delete',
      );
      if (ok !== 'Delete') return;
      const deleted: string[] = [];
      for (const p of picks) {
        // Checked again right before deleting: a file changed while the dialog was open is not ours any more.
        if (results().status(p.entry) !== 'ours') {
          log().warn(`not deleted: ${p.entry.path} changed since ModelFuse wrote it`);
          continue;
        }
        for (const f of p.entry.files) fs.rmSync(f.path, { force: true });
        deleted.push(p.entry.path);
        log().info(`deleted ${p.entry.files.map((f) => f.path).join(', ')}`);
      }
      await results().forget(deleted);
      const skipped = picks.length - deleted.length;
      void vscode.window.showInformationMessage(`ModelFuse: deleted ${deleted.length} result${deleted.length === 1 ? '' : 's'}${skipped ? `; ${skipped} changed since and kept` : ''}.`);
    }),
  );
}
