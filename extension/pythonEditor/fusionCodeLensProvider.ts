/**
 * CodeLens above each nn.Module class with fusible sequences:
 *   "ModelFuse: 3 fusible sequences" · "Insert fuse_model()" · "Copy fuse_modules call"
 * and, for groups a shared module makes unsafe, a warning lens naming the module.
 * The lenses carry only the class name and document version; the commands
 * re-read the document, so they never act on a stale analysis.
 */
import * as vscode from 'vscode';
import { noteText, type PyClassAnalysis } from '../engine/python/analyzePython';
import type { PythonAnalysisCache } from './pythonAnalysisCache';

export const PYTHON_COMMANDS = {
  showSequences: 'modelfuse.python.showSequences',
  insertFuseModel: 'modelfuse.python.insertFuseModel',
  copyFuseModules: 'modelfuse.python.copyFuseModules',
  showUnsafe: 'modelfuse.python.showUnsafe',
  showNotes: 'modelfuse.python.showNotes',
} as const;

/** What every lens command receives. */
export interface ClassTarget {
  uri: string;
  className: string;
  /** 0-based line of the class, to tell apart same-named classes. */
  line: number;
}

export class FusionCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly cache: PythonAnalysisCache) {
    // A debounced analysis finished after VS Code asked: ask VS Code to ask again.
    this.subscription = cache.onDidAnalyze(() => this.changed.fire());
  }

  async provideCodeLenses(document: vscode.TextDocument, token: vscode.CancellationToken): Promise<vscode.CodeLens[]> {
    const analysis = await this.cache.analysis(document);
    if (!analysis || token.isCancellationRequested) return [];
    return analysis.classes.flatMap((c) => lensesFor(document, c));
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

export function sequenceCountTitle(n: number): string {
  return `ModelFuse: ${n} fusible sequence${n === 1 ? '' : 's'}`;
}

/** The notes as tooltip lines: `line 38: self.conv: …`. */
export function notesTooltip(c: PyClassAnalysis): string {
  return c.notes.map((n) => `line ${n.line + 1}: ${noteText(n)}`).join('\n');
}

/** The one lens of a class that gets no group: why, in a line (the tooltip and the command say all). */
export function whyNothingTitle(c: PyClassAnalysis): string {
  const first = noteText(c.notes[0]);
  const more = c.notes.length > 1 ? ` (+${c.notes.length - 1} more)` : '';
  return `ModelFuse: no fusible sequence: ${first.length > 90 ? `${first.slice(0, 89)}…` : first}${more}`;
}

function lensesFor(document: vscode.TextDocument, c: PyClassAnalysis): vscode.CodeLens[] {
  const range = new vscode.Range(c.line, 0, c.line, 0);
  const target: ClassTarget = { uri: document.uri.toString(), className: c.name, line: c.line };
  if (c.sequences.length === 0 && c.unsafe.length === 0) {
    // Nothing to offer: say what was not understood, once, rather than stay silent.
    if (c.notes.length === 0) return [];
    return [new vscode.CodeLens(range, { title: `$(info) ${whyNothingTitle(c)}`, tooltip: notesTooltip(c), command: PYTHON_COMMANDS.showNotes, arguments: [target] })];
  }
  const lenses: vscode.CodeLens[] = [];
  if (c.sequences.length > 0) {
    const notes = c.notes.length ? `\n\nNot offered:\n${notesTooltip(c)}` : '';
    lenses.push(
      new vscode.CodeLens(range, {
        title: sequenceCountTitle(c.sequences.length),
        tooltip: c.sequences.map((s) => `${s.pattern}: ${s.modules.join(', ')}`).join('\n') + notes,
        command: PYTHON_COMMANDS.showSequences,
        arguments: [target],
      }),
    );
    if (!c.definesFuseModel) {
      lenses.push(new vscode.CodeLens(range, { title: vscode.l10n.t('Insert fuse_model()'), tooltip: vscode.l10n.t('Add a fuse_model() method (torchvision quantizable-model pattern) at the end of the class'), command: PYTHON_COMMANDS.insertFuseModel, arguments: [target] }));
    }
    lenses.push(new vscode.CodeLens(range, { title: vscode.l10n.t('Copy fuse_modules call'), tooltip: c.fuseModulesCall ?? '', command: PYTHON_COMMANDS.copyFuseModules, arguments: [target] }));
  }
  for (const u of c.unsafe) {
    // "self.relu is called 2 times in forward (lines 20, 26); …" → "self.relu is called 2 times in forward"
    const cause = u.reason.split(';')[0].replace(/ \(line.*$/, '');
    lenses.push(
      new vscode.CodeLens(range, {
        title: vscode.l10n.t('$(warning) {0} not fusable: {1}', u.modules.join(' + '), cause),
        tooltip: vscode.l10n.t('{0}. Passing this group to fuse_modules would change the model.', u.reason),
        command: PYTHON_COMMANDS.showUnsafe,
        arguments: [target],
      }),
    );
  }
  return lenses;
}
