/**
 * The custom editor for *.onnx and *.safetensors: a read-only overview
 * rendered by webview/overview. The document (and its parse in the worker)
 * starts when VS Code opens the file; every panel gets the current state on
 * each `ready` from its page, so a webview VS Code recreated after being
 * hidden shows the overview again without a re-parse.
 */
import * as vscode from 'vscode';
import type { OverviewActions, OverviewHostSpec, OverviewState, OverviewWebviewSpec } from '../protocol/webviewProtocol';
import { WebviewHost } from '../host/webviewHost';
import { isTrusted, RESTRICTED_MODE_NOTE } from '../host/trust';
import { showLog } from '../host/log';
import { ModelDocument } from './modelDocument';
import { attachGraphTab } from './graphTab';
import type { ModelRegistry } from './modelRegistry';
import type { PythonDefinitions } from './pythonDefinitions';

export const MODEL_EDITOR_VIEW_TYPE = 'modelfuse.modelEditor';

/** What the overview's buttons do; implemented by the commands. */
export interface OverviewCommands {
  fuse(doc: ModelDocument, candidateIds: string[]): Promise<void>;
  fuseAllSafe(doc: ModelDocument): Promise<void>;
  copyFuseList(doc: ModelDocument): Promise<void>;
  choosePythonDefinition(doc: ModelDocument): Promise<void>;
  reveal(doc: ModelDocument, candidateId: string): Promise<void>;
  /** The Fusible Sequences view's selection (the Graph tab follows it). */
  onSequenceSelection(listener: (candidateIds: string[]) => void): vscode.Disposable;
  /** Selects a sequence in the Fusible Sequences view when it is visible, without taking the focus from the editor. */
  selectInSidePanel(doc: ModelDocument, candidateId: string): Promise<void>;
}

export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly registry: ModelRegistry,
    private readonly commands: OverviewCommands,
    private readonly python: PythonDefinitions,
  ) {}

  static register(context: vscode.ExtensionContext, registry: ModelRegistry, commands: OverviewCommands, python: PythonDefinitions): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(MODEL_EDITOR_VIEW_TYPE, new ModelEditorProvider(context.extensionUri, registry, commands, python), {
      // The overview is cheap to rebuild from the document's state; no need to keep hidden pages alive.
      webviewOptions: { retainContextWhenHidden: false },
      supportsMultipleEditorsPerDocument: true,
    });
  }

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    if (uri.scheme !== 'file') throw new Error(`ModelFuse opens local files only, not ${uri.scheme}: URIs`);
    const doc = new ModelDocument(uri, (model) => this.python.definitionFor(model));
    this.registry.add(doc);
    void doc.reload();
    return doc;
  }

  resolveCustomEditor(doc: ModelDocument, panel: vscode.WebviewPanel): void {
    const host = new WebviewHost<OverviewHostSpec, OverviewWebviewSpec>(panel.webview, {
      extensionUri: this.extensionUri,
      bundle: 'overview',
      styles: ['overview.css', 'graph.css'],
      title: doc.fileName,
      files: () => [doc.path],
    });
    const peer = host.peer;
    const push = () => peer.notify('state', overviewState(doc));
    peer.onReady(push);
    const subscriptions = [doc.onDidChange(push), vscode.workspace.onDidGrantWorkspaceTrust(push)];
    peer.handle('fuse', ({ candidateIds }) => this.commands.fuse(doc, candidateIds));
    peer.handle('fuseAllSafe', () => this.commands.fuseAllSafe(doc));
    peer.handle('copyFuseList', () => this.commands.copyFuseList(doc));
    peer.handle('choosePythonDefinition', () => this.commands.choosePythonDefinition(doc));
    peer.handle('reveal', ({ candidateId }) => this.commands.reveal(doc, candidateId));
    peer.handle('reload', () => doc.reload());
    peer.handle('showLog', () => showLog());
    subscriptions.push(attachGraphTab(doc, peer, this.commands, () => this.registry.active === doc));
    peer.handle('reopenWith', async ({ editor }) => {
      // 'default' is VS Code's own text editor (it offers "Open Anyway" for binary bytes);
      // reopenWithEditor lists every editor for the file, the hex editor among them when installed.
      if (editor === 'text') await vscode.commands.executeCommand('vscode.openWith', doc.uri, 'default', panel.viewColumn);
      else await vscode.commands.executeCommand('workbench.action.reopenWithEditor', doc.uri);
    });
    this.registry.attachPanel(doc, panel);
    panel.onDidDispose(() => {
      for (const s of subscriptions) s.dispose();
      host.dispose();
    });
  }
}

export function overviewState(doc: ModelDocument): OverviewState {
  const s = doc.state;
  switch (s.phase) {
    case 'loading':
      return { phase: 'loading', fileName: doc.fileName, progress: s.progress };
    case 'error':
      return { phase: 'error', fileName: doc.fileName, message: s.message };
    case 'ready': {
      const actions: OverviewActions = { fuseDisabledReason: isTrusted() ? null : RESTRICTED_MODE_NOTE, busy: doc.busy, namedFrom: doc.namedFrom };
      return { phase: 'ready', overview: s.overview, actions, graph: { diffBase: doc.graphDiff.base, show: doc.graphDiff.show } };
    }
  }
}
