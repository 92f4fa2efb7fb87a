/**
 * Which models are open and which one is "active": the one whose editor was
 * focused last. The side panel's trees and the commands act on the active
 * model; it stays active while its editor is open, even when focus moves to
 * a text editor (as the Outline view keeps its last symbol tree).
 */
import * as vscode from 'vscode';
import type { ModelDocument } from './modelDocument';

export class ModelRegistry implements vscode.Disposable {
  private readonly documents = new Map<string, { doc: ModelDocument; panels: Set<vscode.WebviewPanel> }>();
  private _active: ModelDocument | undefined;
  private activeSubscription: vscode.Disposable | undefined;
  private readonly activeChanged = new vscode.EventEmitter<ModelDocument | undefined>();
  /** Fires when another model becomes active, and when the active model's state changes. */
  readonly onDidChangeActive = this.activeChanged.event;

  get active(): ModelDocument | undefined {
    return this._active;
  }

  /** Every open document, in the order they were opened. */
  all(): ModelDocument[] {
    return [...this.documents.values()].map((e) => e.doc);
  }

  /** The open document for a file, if any. */
  find(uri: vscode.Uri): ModelDocument | undefined {
    return this.documents.get(uri.toString())?.doc;
  }

  add(doc: ModelDocument): void {
    this.documents.set(doc.uri.toString(), { doc, panels: new Set() });
    doc.onDidDispose(() => {
      this.documents.delete(doc.uri.toString());
      if (this._active === doc) this.setActive([...this.documents.values()].at(-1)?.doc);
    });
  }

  /** Called by the editor provider for every panel showing `doc`. */
  attachPanel(doc: ModelDocument, panel: vscode.WebviewPanel): void {
    const entry = this.documents.get(doc.uri.toString());
    if (!entry) return;
    entry.panels.add(panel);
    if (panel.active) this.setActive(doc);
    panel.onDidChangeViewState((e) => {
      if (e.webviewPanel.active) this.setActive(doc);
    });
    panel.onDidDispose(() => entry.panels.delete(panel));
  }

  /** The panel currently showing a document (to reveal it), if any. */
  panelOf(doc: ModelDocument): vscode.WebviewPanel | undefined {
    return [...(this.documents.get(doc.uri.toString())?.panels ?? [])][0];
  }

  private setActive(doc: ModelDocument | undefined): void {
    if (this._active === doc) return;
    this.activeSubscription?.dispose();
    this._active = doc;
    this.activeSubscription = doc?.onDidChange(() => this.activeChanged.fire(doc));
    void vscode.commands.executeCommand('setContext', 'modelfuse.hasModel', doc !== undefined);
    this.activeChanged.fire(doc);
  }

  dispose(): void {
    this.activeSubscription?.dispose();
    this.activeChanged.dispose();
  }
}
