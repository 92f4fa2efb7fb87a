/**
 * "Inspector" in the ModelFuse side panel: the parameters of the module
 * selected in the Modules tree — shape, dtype, range, mean, std, L2 norm,
 * zeros, NaN/Inf and a histogram per tensor. The statistics are computed by
 * the worker (`model/inspectModule`), which keeps the model open between
 * selections; a newer selection supersedes (cancels) an older request.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModuleTreeNode } from '../engine/graph/moduleTree';
import type { InspectorHostSpec, InspectorState, InspectorWebviewSpec } from '../protocol/diffWebviewProtocol';
import { WebviewHost } from '../host/webviewHost';
import { workerRequest } from '../host/workerHost';
import { errorLine, isCancellation } from '../host/notify';
import { log } from '../host/log';

export const INSPECTOR_VIEW_ID = 'modelfuse.inspector';

/** The active model's file, or undefined (the registry of helper views is passed in to keep this file free of the editor). */
export type ActiveModelPath = () => string | undefined;

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private host: WebviewHost<InspectorHostSpec, InspectorWebviewSpec> | undefined;
  private state: InspectorState = { phase: 'empty', message: 'Select a module in the Modules view to see its parameters.' };
  private pending: vscode.CancellationTokenSource | undefined;
  /** The model whose module is shown (or being loaded); another active model clears the view. */
  private shownFile: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly activeModelPath: ActiveModelPath) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.host?.dispose();
    const host = new WebviewHost<InspectorHostSpec, InspectorWebviewSpec>(view.webview, {
      extensionUri: this.extensionUri,
      bundle: 'inspector',
      styles: ['diff.css'],
      title: vscode.l10n.t('Inspector'),
      files: () => [this.activeModelPath()].filter((p): p is string => p !== undefined),
    });
    this.host = host;
    host.peer.onReady(() => host.peer.notify('state', this.state));
    view.onDidDispose(() => {
      if (this.host === host) this.host = undefined;
      host.dispose();
    });
  }

  /** Follows the selection of a module tree (helper views expose their TreeView). */
  follow(tree: vscode.TreeView<ModuleTreeNode>): void {
    this.disposables.push(tree.onDidChangeSelection((e) => {
      const node = e.selection[0];
      if (node) void this.inspect(node.path);
    }));
  }

  /**
   * Follows the active model: when another model becomes active (or the last
   * one closes), the previous model's module is cleared rather than shown
   * under the new model's tree.
   */
  followActiveModel(onDidChangeActive: vscode.Event<unknown>): this {
    this.disposables.push(onDidChangeActive(() => {
      const file = this.activeModelPath();
      if (file === this.shownFile) return;
      this.pending?.cancel();
      this.shownFile = undefined;
      this.setState(
        file
          ? { phase: 'empty', message: `Select a module of ${path.basename(file)} in the Modules view to see its parameters.` }
          : { phase: 'empty', message: 'Open an ONNX model to inspect its modules.' },
      );
    }));
    return this;
  }

  async inspect(module: string): Promise<void> {
    const file = this.activeModelPath();
    if (!file) {
      this.setState({ phase: 'empty', message: 'Open an ONNX model to inspect its modules.' });
      return;
    }
    this.pending?.cancel();
    const cancel = new vscode.CancellationTokenSource();
    this.pending = cancel;
    this.shownFile = file;
    this.setState({ phase: 'loading', module, file: path.basename(file) });
    try {
      const inspection = await workerRequest('model/inspectModule', { path: file, module }, { token: cancel.token });
      if (cancel.token.isCancellationRequested) return;
      this.setState({ phase: 'ready', file: path.basename(file), inspection });
    } catch (err) {
      if (isCancellation(err) || cancel.token.isCancellationRequested) return;
      const message = errorLine(`inspecting ${module || 'the model'}`, err);
      log().warn(`inspector: ${message}`);
      this.setState({ phase: 'error', module, message });
    }
  }

  private setState(state: InspectorState): void {
    this.state = state;
    this.host?.peer.notify('state', state);
  }

  dispose(): void {
    this.pending?.cancel();
    this.host?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/**
 * Registers the inspector view; call `follow(modulesTreeView)` once the
 * Modules tree exists. `activeModelPath` returns the active model's file.
 */
export function registerInspectorView(context: vscode.ExtensionContext, activeModelPath: ActiveModelPath): InspectorViewProvider {
  const provider = new InspectorViewProvider(context.extensionUri, activeModelPath);
  context.subscriptions.push(provider, vscode.window.registerWebviewViewProvider(INSPECTOR_VIEW_ID, provider));
  return provider;
}
