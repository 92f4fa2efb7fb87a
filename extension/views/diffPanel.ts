/**
 * The parameter-diff panel: one WebviewPanel per (before, after) pair. The
 * statistics come from the worker (`diff/params`), so the panel receives
 * summaries only; for "Compare models…" on two ONNX files in a trusted
 * workspace it also runs a verification. The webview renders whatever state
 * it gets (loading, ready, error) and is re-sent it on every `ready`.
 *
 *   modelfuse.showDiff        (request: DiffRequest)   — after a fuse or merge
 *   modelfuse.compareModels   (uri?, uris?)            — any two models (Explorer multi-select or two pickers)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import { writeAtomically } from '../engine/io/atomicWrite';
import { diffReportMarkdown } from '../engine/stats/diffReport';
import type { DiffHostSpec, DiffKind, DiffRequest, DiffState, DiffWebviewSpec, VerifyState } from '../protocol/diffWebviewProtocol';
import { rememberGraphDiff } from '../editor/graphTab';
import { diffTitle, parseDiffRequest } from './diffRequest';
import { WebviewHost } from '../host/webviewHost';
import { workerRequest } from '../host/workerHost';
import { currentSettings } from '../host/config';
import { errorLine, guarded, isCancellation } from '../host/notify';
import { log, showLog } from '../host/log';
import { isTrusted, UNTRUSTED_REASON } from '../host/trust';
import { chooseVerificationInputs, verifyWithSavedInputs } from '../commands/verificationInputs';
import { verifyReportText, verifyWords } from '../engine/stats/verifyText';

export const DIFF_COMMANDS = { showDiff: 'modelfuse.showDiff', compareModels: 'modelfuse.compareModels' } as const;
const VIEW_TYPE = 'modelfuse.diff';
const MODEL_FILTERS = { 'Models and weights': ['onnx', 'safetensors'] };

class DiffPanel implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  private readonly host: WebviewHost<DiffHostSpec, DiffWebviewSpec>;
  private state: DiffState;
  private cancel = new vscode.CancellationTokenSource();
  private disposed = false;

  constructor(
    extensionUri: vscode.Uri,
    private request: DiffRequest,
    onDispose: () => void,
  ) {
    const title = diffTitle(request);
    this.panel = vscode.window.createWebviewPanel(VIEW_TYPE, title, vscode.ViewColumn.Active, { retainContextWhenHidden: false });
    this.panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icons', 'modelfuse.svg');
    this.host = new WebviewHost<DiffHostSpec, DiffWebviewSpec>(this.panel.webview, {
      extensionUri,
      bundle: 'diff',
      styles: ['diff.css'],
      title,
      files: () => [this.request.before, this.request.after],
    });
    this.state = { phase: 'loading', title, message: 'Starting…', fraction: null };
    this.host.peer.onReady(() => this.host.peer.notify('state', this.state));
    this.host.peer.handle('exportMarkdown', () => this.exportMarkdown());
    this.host.peer.handle('reload', async () => void this.load(this.request));
    this.host.peer.handle('showLog', async () => showLog());
    this.host.peer.handle('reverify', () => this.reverify());
    this.panel.onDidDispose(() => {
      this.disposed = true;
      this.cancel.cancel();
      this.host.dispose();
      onDispose();
    });
  }

  matches(r: DiffRequest): boolean {
    return this.request.before === r.before && this.request.after === r.after;
  }

  private setState(s: DiffState): void {
    if (this.disposed) return;
    this.state = s;
    this.host.peer.notify('state', s);
  }

  async load(request: DiffRequest): Promise<void> {
    this.request = request;
    this.cancel.cancel();
    this.cancel = new vscode.CancellationTokenSource();
    const token = this.cancel.token;
    const title = diffTitle(request);
    this.panel.title = title;
    this.setState({ phase: 'loading', title, message: 'Comparing parameters…', fraction: null });
    try {
      const summary = await workerRequest('diff/params', { before: request.before, after: request.after, folds: request.folds, lora: request.lora }, {
        token,
        onProgress: (p) => this.setState({ phase: 'loading', title, message: p.message, fraction: p.total ? (p.done ?? 0) / p.total : null }),
      });
      log().info(`diff ${request.before} → ${request.after}: ${summary.changed.length} changed tensors, ${summary.unchangedCount} unchanged, ${summary.removed.length} removed`);
      const kind: DiffKind = request.kind ?? 'compare';
      const verify = this.initialVerify(request);
      this.setState({ phase: 'ready', title, kind, summary, verify });
      if (verify.status === 'running') await this.runVerify(title, kind, summary, token);
    } catch (err) {
      if (isCancellation(err) || token.isCancellationRequested) return;
      log().error(`diff of ${request.before} and ${request.after}: ${errorLine('comparing models', err)}`);
      this.setState({ phase: 'error', title, message: errorLine('comparing models', err) });
    }
  }

  private initialVerify(r: DiffRequest): VerifyState {
    if (r.verify) return { status: 'done', report: r.verify, words: verifyWords(r.verify) };
    const bothOnnx = [r.before, r.after].every((p) => p.toLowerCase().endsWith('.onnx'));
    if (!bothOnnx) return { status: 'none', reason: 'Outputs are compared for two ONNX models; safetensors files hold weights only.' };
    if (!isTrusted()) return { status: 'none', reason: UNTRUSTED_REASON };
    if (r.kind !== 'compare') return { status: 'none', reason: 'No verification was run for this result.', canRun: true };
    return { status: 'running', message: 'Running both models in ONNX Runtime…' };
  }

  private async runVerify(title: string, kind: DiffKind, summary: Extract<DiffState, { phase: 'ready' }>['summary'], token: vscode.CancellationToken): Promise<void> {
    const { atol, rtol } = currentSettings();
    try {
      const report = await verifyWithSavedInputs({ modelA: this.request.before, modelB: this.request.after, atol, rtol }, {
        token,
        onProgress: (p) => this.setState({ phase: 'ready', title, kind, summary, verify: { status: 'running', message: p.message } }),
      });
      log().info(`verification for the diff of ${path.basename(this.request.before)} → ${path.basename(this.request.after)}:\n${verifyReportText(report)}`);
      this.request = { ...this.request, verify: report };
      this.setState({ phase: 'ready', title, kind, summary, verify: { status: 'done', report, words: verifyWords(report) } });
    } catch (err) {
      if (isCancellation(err) || token.isCancellationRequested) return;
      log().error(`verifying ${this.request.before} against ${this.request.after}: ${errorLine('verifying', err)}`);
      this.setState({ phase: 'ready', title, kind, summary, verify: { status: 'failed', message: errorLine('verifying', err) } });
    }
  }

  /** "Re-verify with…": the inputs picker for the original model, then the verification with the new choice. */
  private async reverify(): Promise<void> {
    const s = this.state;
    if (s.phase !== 'ready') throw new ModelFuseError('the comparison is not finished yet');
    if (![this.request.before, this.request.after].every((p) => p.toLowerCase().endsWith('.onnx'))) throw new ModelFuseError('outputs can be compared for two ONNX models only');
    if (!isTrusted()) throw new ModelFuseError(UNTRUSTED_REASON);
    if (!(await chooseVerificationInputs(this.request.before))) return;
    this.setState({ ...s, verify: { status: 'running', message: 'Running both models in ONNX Runtime…' } });
    await this.runVerify(s.title, s.kind, s.summary, this.cancel.token);
  }

  private async exportMarkdown(): Promise<void> {
    const s = this.state;
    if (s.phase !== 'ready') throw new ModelFuseError(vscode.l10n.t('the comparison is not finished yet'));
    const after = this.request.after;
    const defaultUri = vscode.Uri.file(path.join(path.dirname(after), `${path.basename(after).replace(/\.[^.]+$/, '')}.diff.md`));
    const target = await vscode.window.showSaveDialog({ defaultUri, filters: { Markdown: ['md'] }, title: vscode.l10n.t('Export parameter diff as Markdown') });
    if (!target) return;
    const text = diffReportMarkdown(s.summary, { title: s.title, kind: s.kind, verify: s.verify.status === 'done' ? s.verify.report : null, generated: new Date().toISOString() });
    // The save dialog already asked about replacing an existing file; write it whole or not at all.
    await writeAtomically((files) => fs.writeFileSync(files.add(target.fsPath), text, 'utf8'), { force: true });
    log().info(`exported the parameter diff to ${target.fsPath}`);
    const open = await vscode.window.showInformationMessage(vscode.l10n.t('Saved {0}', path.basename(target.fsPath)), vscode.l10n.t('Open'));
    if (open) await vscode.window.showTextDocument(target);
  }

  dispose(): void {
    this.panel.dispose();
  }
}


export class DiffPanels implements vscode.Disposable {
  private readonly panels = new Set<DiffPanel>();

  constructor(private readonly extensionUri: vscode.Uri) {}

  /** Opens (or re-uses and reloads) the panel for this pair. */
  async show(request: DiffRequest): Promise<void> {
    for (const p of [request.before, request.after]) if (!fs.existsSync(p)) throw new ModelFuseError(vscode.l10n.t('{0}: file not found', p));
    let panel = [...this.panels].find((p) => p.matches(request));
    if (panel) panel.panel.reveal();
    else {
      const created: DiffPanel = new DiffPanel(this.extensionUri, request, () => this.panels.delete(created));
      this.panels.add(created);
      panel = created;
    }
    await panel.load(request);
  }

  dispose(): void {
    for (const p of [...this.panels]) p.dispose();
  }
}

async function pickModel(title: string, defaultUri?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters: MODEL_FILTERS, defaultUri, openLabel: vscode.l10n.t('Select') });
  return picked?.[0];
}

export function registerDiffPanel(context: vscode.ExtensionContext): DiffPanels {
  const panels = new DiffPanels(context.extensionUri);
  context.subscriptions.push(
    panels,
    vscode.commands.registerCommand(DIFF_COMMANDS.showDiff, guarded('showing the parameter diff', (arg: unknown) => panels.show(parseDiffRequest(arg)))),
    vscode.commands.registerCommand(
      DIFF_COMMANDS.compareModels,
      guarded('comparing models', async (uri?: vscode.Uri, uris?: vscode.Uri[]) => {
        // Explorer: two files selected → compare them (the one right-clicked is "after" only if it was selected second).
        let [a, b] = uris && uris.length === 2 ? uris : [uri, undefined];
        a ??= await pickModel('Compare models: the original (before)');
        if (!a) return;
        b ??= await pickModel(`Compare ${path.basename(a.fsPath)} with (after)`, vscode.Uri.file(path.dirname(a.fsPath)));
        if (!b) return;
        // Two ONNX models: the Graph tab of the second shows its diff with the first too.
        rememberGraphDiff(a.fsPath, b.fsPath);
        await panels.show({ before: a.fsPath, after: b.fsPath, kind: 'compare' });
      }),
    ),
  );
  return panels;
}
