/**
 * The ModelFuse side panel: "Modules" (the PyTorch module hierarchy of the
 * active model, with operators and parameter counts) and "Fusible Sequences"
 * (pattern, modules, blocked reason, shared-module warning). Both allow
 * multi-select for "Fuse Selected Modules". The look of each item comes from
 * treeModel.ts; this file only adapts it to VS Code.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CandidateView } from '../engine/fusion/candidateView';
import type { ModuleTreeNode } from '../engine/graph/moduleTree';
import type { ModelRegistry } from '../editor/modelRegistry';
import type { ModelDocument } from '../editor/modelDocument';
import { findModuleNode, moduleItem, sequenceItem, topLevelModules, type ItemModel } from './treeModel';

export const MODULES_VIEW_ID = 'modelfuse.modules';
export const SEQUENCES_VIEW_ID = 'modelfuse.sequences';

function toTreeItem(model: ItemModel): vscode.TreeItem {
  const item = new vscode.TreeItem(model.label, model.expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
  item.description = model.description;
  const tooltip = new vscode.MarkdownString(model.tooltip, true);
  tooltip.isTrusted = false; // names come from the model file: never allow command links
  item.tooltip = tooltip;
  item.iconPath = new vscode.ThemeIcon(model.icon, model.iconColor ? new vscode.ThemeColor(model.iconColor) : undefined);
  item.contextValue = model.contextValue;
  return item;
}

/** The state both trees read: the active document, its candidates and module tree (empty while loading). */
function activeOnnx(
  registry: ModelRegistry,
): { doc: ModelDocument; candidates: CandidateView[]; root: ModuleTreeNode | null; problem: string | null } | undefined {
  const doc = registry.active;
  const o = doc?.overview;
  if (!doc || !o || o.kind !== 'onnx') return undefined;
  return { doc, candidates: o.candidates, root: o.modules, problem: o.scanProblem };
}

class ModulesProvider implements vscode.TreeDataProvider<ModuleTreeNode> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private parents = new Map<ModuleTreeNode, ModuleTreeNode | undefined>();

  constructor(private readonly registry: ModelRegistry) {}

  refresh(): void {
    this.parents = new Map();
    this.changed.fire();
  }

  getChildren(element?: ModuleTreeNode): ModuleTreeNode[] {
    const state = activeOnnx(this.registry);
    if (!state?.root) return [];
    const kids = element ? element.children : topLevelModules(state.root);
    for (const k of kids) this.parents.set(k, element);
    return kids;
  }

  getParent(element: ModuleTreeNode): ModuleTreeNode | undefined {
    return this.parents.get(element);
  }

  getTreeItem(element: ModuleTreeNode): vscode.TreeItem {
    const item = toTreeItem(moduleItem(element, activeOnnx(this.registry)?.candidates ?? []));
    item.id = `module:${element.path}:${element.name}`;
    return item;
  }

  /** The tree node for a module path (expanding the way there), for reveal. */
  find(modulePath: string): ModuleTreeNode | undefined {
    if (!activeOnnx(this.registry)?.root) return undefined;
    return findModuleNode(this.getChildren(), (m) => this.getChildren(m), modulePath);
  }
}

class SequencesProvider implements vscode.TreeDataProvider<CandidateView> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly registry: ModelRegistry) {}

  refresh(): void {
    this.changed.fire();
  }

  getChildren(element?: CandidateView): CandidateView[] {
    return element ? [] : activeOnnx(this.registry)?.candidates ?? [];
  }

  getParent(): undefined {
    return undefined;
  }

  getTreeItem(element: CandidateView): vscode.TreeItem {
    const item = toTreeItem(sequenceItem(element));
    item.id = `sequence:${element.id}`;
    return item;
  }
}

export class ModelTreeViews implements vscode.Disposable {
  readonly modules: vscode.TreeView<ModuleTreeNode>;
  readonly sequences: vscode.TreeView<CandidateView>;
  private readonly modulesProvider: ModulesProvider;
  private readonly sequencesProvider: SequencesProvider;
  private readonly disposables: vscode.Disposable[] = [];
  /** What the trees were last built from: rebuilt only when this changes, not on every busy flip. */
  private shown: { doc: ModelDocument | undefined; phase: string | undefined; overview: unknown } = { doc: undefined, phase: undefined, overview: undefined };

  constructor(private readonly registry: ModelRegistry) {
    this.modulesProvider = new ModulesProvider(registry);
    this.sequencesProvider = new SequencesProvider(registry);
    this.modules = vscode.window.createTreeView(MODULES_VIEW_ID, { treeDataProvider: this.modulesProvider, canSelectMany: true, showCollapseAll: true });
    this.sequences = vscode.window.createTreeView(SEQUENCES_VIEW_ID, { treeDataProvider: this.sequencesProvider, canSelectMany: true });
    this.disposables.push(this.modules, this.sequences, registry.onDidChangeActive(() => this.update()));
    this.update();
  }

  /** Re-reads the active model; the trees are rebuilt only when the model or its loaded overview changed (not on busy flips). */
  update(force = false): void {
    const doc = this.registry.active;
    const next = { doc, phase: doc?.state.phase, overview: doc?.overview };
    const rebuild = force || next.doc !== this.shown.doc || next.phase !== this.shown.phase || next.overview !== this.shown.overview;
    this.shown = next;
    const name = doc ? path.basename(doc.path) : undefined;
    const state = activeOnnx(this.registry);
    this.modules.description = name;
    this.sequences.description = name;
    this.modules.message = this.messageFor(doc, state ? (state.root ? undefined : 'No module hierarchy could be recovered from this model.') : undefined);
    this.sequences.message = this.messageFor(
      doc,
      state ? (state.problem ? `The scan failed: ${state.problem}` : state.candidates.length === 0 ? 'No fusible sequences in this model.' : undefined) : undefined,
    );
    if (doc?.busy) this.sequences.message = `${doc.busy}`;
    if (rebuild) {
      this.modulesProvider.refresh();
      this.sequencesProvider.refresh();
    }
  }

  private messageFor(doc: ModelDocument | undefined, readyMessage: string | undefined): string | undefined {
    if (!doc) return undefined;
    switch (doc.state.phase) {
      case 'loading':
        return `Reading ${path.basename(doc.path)}… ${doc.state.progress.message}`;
      case 'error':
        return doc.state.message;
      case 'ready':
        return doc.overview?.kind === 'safetensors' ? `${path.basename(doc.path)} is a tensor file: modules and sequences are shown for ONNX models.` : readyMessage;
    }
  }

  /**
   * Shows a sequence (and its first module) in the side panel. A view that was
   * just opened has not fetched its items yet and refuses to reveal them
   * ("Data tree node not found"), so the reveal is retried briefly.
   */
  async revealSequence(candidateId: string): Promise<boolean> {
    const c = this.sequencesProvider.getChildren().find((x) => x.id === candidateId);
    if (!c) return false;
    await vscode.commands.executeCommand(`${SEQUENCES_VIEW_ID}.focus`);
    await retry(() => this.sequences.reveal(c, { select: true, focus: true }));
    const first = c.modules.find((m): m is string => m !== null);
    const m = first ? this.modulesProvider.find(first) : undefined;
    if (m && this.modules.visible) await retry(() => this.modules.reveal(m, { select: false, expand: true })).catch(() => undefined);
    return true;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

async function retry<T>(attempt: () => Thenable<T>, tries = 20, delayMs = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
