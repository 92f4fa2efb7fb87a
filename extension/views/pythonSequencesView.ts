/**
 * "Python Sequences" in the ModelFuse side panel: the fusible sequences the
 * CodeLens found in the active Python file, per class, with the unsafe groups
 * and their reasons. Clicking a sequence selects its lines in forward().
 * Visible only while the active editor is a Python file defining nn.Module
 * classes (context key `modelfuse.hasPythonSequences`).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PyClassAnalysis, PySequence, PyUnsafeSequence } from '../engine/python/analyzePython';
import type { PythonAnalysisCache } from '../pythonEditor/pythonAnalysisCache';
import { linkToPython } from '../engine/python/linkModules';

/** The fusible sequences of the ONNX model open in ModelFuse, to mark the Python groups it contains. */
export interface OnnxSequencesSource {
  active(): { name: string; groups: (string | null)[][] } | undefined;
  readonly onDidChange: vscode.Event<unknown>;
}

export const PYTHON_SEQUENCES_VIEW_ID = 'modelfuse.pythonSequences';
const CONTEXT_KEY = 'modelfuse.hasPythonSequences';

type Item =
  | { kind: 'class'; uri: vscode.Uri; cls: PyClassAnalysis }
  | { kind: 'sequence'; uri: vscode.Uri; cls: PyClassAnalysis; sequence: PySequence }
  | { kind: 'unsafe'; uri: vscode.Uri; cls: PyClassAnalysis; unsafe: PyUnsafeSequence };

class Provider implements vscode.TreeDataProvider<Item> {
  constructor(private readonly onnx: OnnxSequencesSource | undefined) {}

  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  uri: vscode.Uri | undefined;
  classes: PyClassAnalysis[] = [];
  private roots: Item[] = [];
  private readonly children = new Map<Item, Item[]>();

  set(uri: vscode.Uri | undefined, classes: PyClassAnalysis[]): void {
    this.uri = uri;
    this.classes = classes.filter((c) => c.sequences.length > 0 || c.unsafe.length > 0);
    this.children.clear();
    this.roots = uri ? this.classes.map((cls) => ({ kind: 'class', uri, cls }) as Item) : [];
    for (const r of this.roots) {
      if (r.kind !== 'class') continue;
      this.children.set(r, [
        ...r.cls.sequences.map((sequence) => ({ kind: 'sequence', uri: r.uri, cls: r.cls, sequence }) as Item),
        ...r.cls.unsafe.map((unsafe) => ({ kind: 'unsafe', uri: r.uri, cls: r.cls, unsafe }) as Item),
      ]);
    }
    this.changed.fire();
  }

  findClass(name: string, line: number): Item | undefined {
    return this.roots.find((r) => r.cls.name === name && r.cls.line === line) ?? this.roots.find((r) => r.cls.name === name);
  }

  getChildren(element?: Item): Item[] {
    return element ? (this.children.get(element) ?? []) : this.roots;
  }

  getParent(element: Item): Item | undefined {
    return element.kind === 'class' ? undefined : this.roots.find((r) => r.cls === element.cls);
  }

  /** Where the active ONNX model has this group: "layer1.0, layer1.1 in model.onnx". */
  private exportedAs(cls: PyClassAnalysis, group: PySequence | PyUnsafeSequence): string | undefined {
    const model = this.onnx?.active();
    if (!model) return undefined;
    const instances = model.groups.flatMap((g) => linkToPython(g, [cls]).filter((l) => l.group === group).map((l) => l.instance || '(root)'));
    if (instances.length === 0) return undefined;
    const shown = [...new Set(instances)];
    return `${shown.slice(0, 4).join(', ')}${shown.length > 4 ? ` +${shown.length - 4}` : ''} in ${model.name}`;
  }

  refresh(): void {
    this.changed.fire();
  }

  getTreeItem(element: Item): vscode.TreeItem {
    switch (element.kind) {
      case 'class': {
        const n = element.cls.sequences.length;
        const item = new vscode.TreeItem(element.cls.name, vscode.TreeItemCollapsibleState.Expanded);
        item.description = `${n} fusible${element.cls.unsafe.length ? `, ${element.cls.unsafe.length} unsafe` : ''}`;
        item.iconPath = new vscode.ThemeIcon('symbol-class');
        item.contextValue = 'pythonClass';
        item.command = reveal(element.uri, element.cls.line, element.cls.line);
        return item;
      }
      case 'sequence': {
        const s = element.sequence;
        const item = new vscode.TreeItem(s.modules.join(' → '), vscode.TreeItemCollapsibleState.None);
        const exported = this.exportedAs(element.cls, s);
        item.description = s.pattern + (s.viaChild ? ` (in ${s.viaChild})` : '') + (exported ? ` · ${exported}` : '');
        item.iconPath = new vscode.ThemeIcon('combine');
        item.tooltip = [
          `${s.pattern}: ${s.modules.join(', ')}`,
          `forward() lines ${s.lines.start + 1}–${s.lines.end + 1}${s.viaChild ? ` (in the class of ${s.viaChild})` : ''}`,
          ...s.assumptions,
          ...(exported ? [`Exported as ${exported}`] : []),
        ].join('\n');
        item.contextValue = 'pythonSequence';
        item.command = reveal(element.uri, s.lines.start, s.lines.end);
        return item;
      }
      case 'unsafe': {
        const u = element.unsafe;
        const item = new vscode.TreeItem(u.modules.join(' → '), vscode.TreeItemCollapsibleState.None);
        item.description = `unsafe: ${u.reason.split(';')[0].replace(/ \(line.*$/, '')}`;
        item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
        const exported = this.exportedAs(element.cls, u);
        item.tooltip = `${u.reason}. Passing this group to fuse_modules would change the model.${exported ? `\nExported as ${exported}` : ''}`;
        item.contextValue = 'pythonUnsafeSequence';
        item.command = reveal(element.uri, u.lines.start, u.lines.end);
        return item;
      }
    }
  }
}

function reveal(uri: vscode.Uri, start: number, end: number): vscode.Command {
  const selection = new vscode.Range(start, 0, end, Number.MAX_SAFE_INTEGER);
  return { title: vscode.l10n.t('Show in editor'), command: 'vscode.open', arguments: [uri, { selection, preserveFocus: false } satisfies vscode.TextDocumentShowOptions] };
}

export class PythonSequencesView implements vscode.Disposable {
  private readonly provider: Provider;
  readonly view: vscode.TreeView<Item>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly cache: PythonAnalysisCache, onnx?: OnnxSequencesSource) {
    this.provider = new Provider(onnx);
    if (onnx) this.disposables.push(onnx.onDidChange(() => this.provider.refresh()));
    this.view = vscode.window.createTreeView(PYTHON_SEQUENCES_VIEW_ID, { treeDataProvider: this.provider, showCollapseAll: true });
    this.disposables.push(
      this.view,
      vscode.window.onDidChangeActiveTextEditor(() => void this.update()),
      cache.onDidAnalyze((uri) => {
        if (uri.toString() === vscode.window.activeTextEditor?.document.uri.toString()) void this.update();
      }),
    );
    void this.update();
  }

  /** Shows the active editor's file (a non-Python editor keeps the last Python file shown). */
  async update(): Promise<void> {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc || doc.languageId !== 'python') return;
    const analysis = await this.cache.analysis(doc);
    if (doc !== vscode.window.activeTextEditor?.document) return;
    this.provider.set(doc.uri, analysis?.classes ?? []);
    this.view.description = path.basename(doc.uri.fsPath);
    await vscode.commands.executeCommand('setContext', CONTEXT_KEY, this.provider.classes.length > 0);
  }

  /** Makes the view visible and selects the class (the CodeLens "N fusible sequences" action). */
  async revealClass(document: vscode.TextDocument, className: string, line: number): Promise<void> {
    const analysis = await this.cache.analysis(document);
    this.provider.set(document.uri, analysis?.classes ?? []);
    this.view.description = path.basename(document.uri.fsPath);
    await vscode.commands.executeCommand('setContext', CONTEXT_KEY, this.provider.classes.length > 0);
    const item = this.provider.findClass(className, line);
    if (item) await this.view.reveal(item, { select: true, focus: true, expand: true });
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
