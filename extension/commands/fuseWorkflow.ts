/**
 * Fusing, as every entry point does it (tree context menu, view title,
 * editor title, overview buttons): refuse in an untrusted workspace; pick a
 * free output name beside the model; fold in the worker with a cancellable
 * progress notification; verify in ONNX Runtime when the setting says so;
 * log everything; show one summary with "Open" and "Show diff".
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { ModelDocument } from '../editor/modelDocument';
import { MODEL_EDITOR_VIEW_TYPE } from '../editor/modelEditorProvider';
import { showGraphDiff } from '../editor/graphTab';
import type { ModelChangeOutcome } from '../protocol/extensionMethods';
import type { VerifyReport } from '../protocol/workerProtocol';
import { currentSettings } from '../host/config';
import { log, showLog } from '../host/log';
import { outputFor, recordResult } from '../host/results';
import { withProgressNotification } from '../host/progress';
import { requireTrust } from '../host/trust';
import { workerRequest } from '../host/workerHost';
import type { FuseRequest } from './fuseSelection';
import { fuseSummary, refusalsLine } from './summaries';
import { verifyWithSavedInputs } from './verificationInputs';
import { verdictOf, verifyReportText } from '../engine/stats/verifyText';
import { messageOf } from '../host/remedyText';

/** Timed runs per model in the verification (median reported); enough for a stable median, short for large models. */
const VERIFY_RUNS = 10;

export async function fuseInModel(doc: ModelDocument, request: FuseRequest): Promise<ModelChangeOutcome | undefined> {
  requireTrust('Fuse');
  const name = path.basename(doc.path);
  if (request.refused.length) log().warn(`fuse ${doc.path}: not fusible: ${refusalsLine(request.refused)}`);
  if (request.ids.length === 0) {
    throw new ModelFuseError(vscode.l10n.t('{0}: nothing to fuse{1}', name, request.refused.length ? ` — ${refusalsLine(request.refused)}` : ' (no sequence selected)'));
  }
  const settings = currentSettings();
  const { path: output, replaces } = outputFor(doc.path, settings.fusedName);
  const n = request.ids.length;
  log().info(`fuse ${doc.path} → ${output}: ${request.ids.join(', ')}`);

  const outcome = await doc.whileBusy(`Fusing ${n} sequence${n === 1 ? '' : 's'}…`, async () =>
    await withProgressNotification(
      vscode.l10n.t('ModelFuse: fusing {0} sequence{1} of {2}', n, n === 1 ? '' : 's', name),
      async (progress, token) => {
        const report = (message: string) => progress.report({ message });
        const bar = progressBar(progress);
        const fuse = await workerRequest('fusion/fuse', { model: doc.path, output, candidateIds: request.ids, replace: replaces }, { token, onProgress: bar });
        await recordResult({ path: fuse.output, kind: 'fuse', source: doc.path, files: fuse.externalData ? [fuse.externalData] : [] });
        for (const a of fuse.applied) log().info(`  folded ${a.id}: removed ${a.removedNodes.join(', ') || 'no nodes'}; changed ${a.changedTensors.map((t) => t.after.name).join(', ')}`);
        for (const s of fuse.skipped) log().warn(`  skipped ${s.id}: ${s.reason}`);
        log().info(`  wrote ${fuse.output}${fuse.externalData ? ` and ${fuse.externalData}` : ''} (${fuse.nodesBefore} → ${fuse.nodesAfter} nodes)`);
        let verification: VerifyReport | null = null;
        if (settings.verifyAfterFuse) {
          report('verifying in ONNX Runtime');
          try {
            verification = await verifyWithSavedInputs({ modelA: doc.path, modelB: fuse.output, atol: settings.atol, rtol: settings.rtol, runs: VERIFY_RUNS }, { token, onProgress: (p) => report(`verifying: ${p.message}`) });
            log().info(`  verification:\n${verifyReportText(verification)}`);
          } catch (err) {
            // The fused model is written and complete; say that the check did not happen rather than hiding the file.
            log().warn(`  verification did not complete: ${messageOf(err)}`);
            void vscode.window.showWarningMessage(vscode.l10n.t('ModelFuse: {0} was written, but its verification did not complete: {1}', path.basename(fuse.output), messageOf(err)));
          }
        }
        return { kind: 'fuse', before: doc.path, after: fuse.output, fuse, verification } satisfies ModelChangeOutcome;
      },
    ),
  );
  const summary = fuseSummary(outcome.fuse, outcome.verification, request.refused);
  log().info(summary);
  // A failed or weak check is a warning: the user should look before trusting the file.
  void showOutcome(summary, outcome, outcome.verification !== null && verdictOf(outcome.verification) !== 'verified');
  return outcome;
}

/**
 * Feeds worker progress into a VS Code progress notification: the message,
 * and the bar's increments when the worker counts units (folds, tensors).
 */
export function progressBar(
  progress: vscode.Progress<{ message?: string; increment?: number }>,
): (p: { message: string; done?: number; total?: number }) => void {
  let shown = 0;
  return (p) => {
    if (p.total && p.done !== undefined) {
      const percent = Math.min(100, (100 * p.done) / p.total);
      progress.report({ message: `${p.message} (${p.done}/${p.total})`, increment: Math.max(0, percent - shown) });
      shown = Math.max(shown, percent);
    } else {
      progress.report({ message: p.message });
    }
  };
}

/**
 * The summary notification: "Open" opens the new model in the ModelFuse editor, "Show diff" the
 * parameter diff, "Graph diff" its Graph tab against the original.
 */
export async function showOutcome(summary: string, outcome: ModelChangeOutcome, warn: boolean): Promise<void> {
  const actions = ['Open', 'Show diff', 'Graph diff', 'Show log'];
  const choice = await (warn ? vscode.window.showWarningMessage(summary, ...actions) : vscode.window.showInformationMessage(summary, ...actions));
  if (choice === 'Open') await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(outcome.after), MODEL_EDITOR_VIEW_TYPE);
  else if (choice === 'Show diff') await showDiff(outcome);
  else if (choice === 'Graph diff' && /\.onnx$/i.test(outcome.after)) await showGraphDiff(outcome.before, outcome.after, MODEL_EDITOR_VIEW_TYPE);
  else if (choice === 'Show log') showLog();
}

/** The parameter-diff panel (`modelfuse.showDiff`) when it is installed; otherwise the outcome as a JSON document (not saved). */
export async function showDiff(outcome: ModelChangeOutcome): Promise<void> {
  const commands = await vscode.commands.getCommands(true);
  if (commands.includes('modelfuse.showDiff')) {
    await vscode.commands.executeCommand('modelfuse.showDiff', outcome);
    return;
  }
  const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(outcome, null, 2) });
  await vscode.window.showTextDocument(doc, { preview: true });
}
