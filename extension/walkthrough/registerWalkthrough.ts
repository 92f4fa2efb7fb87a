/**
 * The "Get Started with ModelFuse" walkthrough (contributes.walkthroughs):
 * its steps' command links run the real commands on the bundled samples —
 * open the sample model, show its fusible sequences, fuse it (with ONNX
 * Runtime verification), merge the sample LoRA adapter (the usual key
 * mapping confirmation), open the sample model.py for CodeLens. The
 * walkthrough opens by itself once, the first time the extension starts.
 */
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { ModelDocument } from '../editor/modelDocument';
import { MODEL_EDITOR_VIEW_TYPE } from '../editor/modelEditorProvider';
import { fuseAllSafe } from '../commands/fuseAllSafe';
import { MERGE_LORA } from '../commands/mergeLora';
import type { CommandContext } from '../commands/commandContext';
import { log } from '../host/log';
import { guarded } from '../host/notify';
import { requireTrust } from '../host/trust';
import { ensureSamples, type SampleFiles } from './sampleFiles';

/** `<publisher>.<name>#<walkthrough id>`, as package.json declares it. */
export const WALKTHROUGH_ID = 'modelfuse.modelfuse#gettingStarted';
const OPENED_KEY = 'modelfuse.walkthrough.opened';

export function registerWalkthrough(context: vscode.ExtensionContext, ctx: CommandContext): vscode.Disposable[] {
  const samples = (): SampleFiles =>
    ensureSamples(vscode.Uri.joinPath(context.extensionUri, 'media', 'sample').fsPath, context.globalStorageUri.fsPath, String(context.extension.packageJSON.version ?? 'dev'));
  const openModel = () => openReadyModel(ctx, samples().model);
  const command = (id: string, what: string, body: () => PromiseLike<unknown>) => vscode.commands.registerCommand(id, guarded(what, body));
  void openOnFirstStart(context);
  return [
    command('modelfuse.walkthrough.open', vscode.l10n.t('opening the walkthrough'), () => vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false)),
    command('modelfuse.sample.openModel', vscode.l10n.t('opening the sample model'), openModel),
    command('modelfuse.sample.showSequences', vscode.l10n.t('showing the sample’s fusible sequences'), async () => {
      await openModel();
      await vscode.commands.executeCommand('modelfuse.sequences.focus');
    }),
    command('modelfuse.sample.fuse', vscode.l10n.t('fusing the sample model'), async () => {
      requireTrust(vscode.l10n.t('Fuse the sample model'));
      await fuseAllSafe(await openModel());
    }),
    command('modelfuse.sample.mergeAdapter', vscode.l10n.t('merging the sample LoRA adapter'), async () => {
      requireTrust(vscode.l10n.t('Merge the sample LoRA adapter'));
      const s = samples();
      // As the Explorer passes a selection: the base and the adapter folder; weight and mapping are asked as usual.
      const base = vscode.Uri.file(s.loraBase);
      await vscode.commands.executeCommand(MERGE_LORA, base, [base, vscode.Uri.file(s.loraAdapter)]);
    }),
    command('modelfuse.sample.openPython', vscode.l10n.t('opening the sample model.py'), async () => {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(samples().python));
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    }),
  ];
}

/** Opens `file` in the ModelFuse editor beside the walkthrough and waits until its overview is read. */
async function openReadyModel(ctx: CommandContext, file: string): Promise<ModelDocument> {
  const uri = vscode.Uri.file(file);
  await vscode.commands.executeCommand('vscode.openWith', uri, MODEL_EDITOR_VIEW_TYPE, { viewColumn: vscode.ViewColumn.Beside, preview: false });
  const doc = ctx.registry.find(uri);
  if (!doc) throw new ModelFuseError(vscode.l10n.t('{0}: the ModelFuse editor did not open it', file));
  await whenRead(doc);
  return doc;
}

function whenRead(doc: ModelDocument): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const s = doc.state;
      if (s.phase === 'loading') return false;
      subscription?.dispose();
      if (s.phase === 'error') reject(new ModelFuseError(s.message));
      else resolve();
      return true;
    };
    let subscription: vscode.Disposable | undefined;
    if (!check()) subscription = doc.onDidChange(check);
  });
}

/**
 * VS Code opens an extension's walkthrough when it is installed from the Extensions view, but not
 * when it is installed from the command line or synced; so the extension opens it itself on its
 * first start, once, unless the user turned walkthroughs on install off.
 */
async function openOnFirstStart(context: vscode.ExtensionContext): Promise<void> {
  if (context.globalState.get<boolean>(OPENED_KEY)) return;
  await context.globalState.update(OPENED_KEY, true);
  if (!vscode.workspace.getConfiguration('workbench').get<boolean>('welcomePage.walkthroughs.openOnInstall', true)) return;
  log().info('first start: opening the Get Started walkthrough');
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false);
}
