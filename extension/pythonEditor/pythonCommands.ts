/**
 * The CodeLens actions. Each one re-analyses the document as it is now (the
 * lens may be older than the last keystroke) and finds the class by name and
 * line, so an edit never lands in the wrong place.
 */
import * as vscode from 'vscode';
import { noteText, type PyClassAnalysis } from '../engine/python/analyzePython';
import type { ClassTarget } from './fusionCodeLensProvider';
import type { PythonAnalysisCache } from './pythonAnalysisCache';
import { log } from '../host/log';

export async function currentClass(cache: PythonAnalysisCache, target: ClassTarget): Promise<{ document: vscode.TextDocument; cls: PyClassAnalysis }> {
  const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(target.uri));
  const analysis = await cache.analysis(document);
  const classes = analysis?.classes.filter((c) => c.name === target.className) ?? [];
  const cls = classes.find((c) => c.line === target.line) ?? classes[0];
  if (!cls) throw new Error(`class ${target.className} is no longer in ${document.uri.fsPath}`);
  return { document, cls };
}

/** The text to insert at `cls.insertAt`: a blank line, then the method, in the document's line endings. */
export function fuseModelInsertion(cls: PyClassAnalysis, eol: '\n' | '\r\n'): string {
  return `\n\n${cls.fuseModelMethod ?? ''}`.replace(/\n/g, eol);
}

export async function insertFuseModel(cache: PythonAnalysisCache, target: ClassTarget): Promise<void> {
  const { document, cls } = await currentClass(cache, target);
  if (cls.definesFuseModel) {
    void vscode.window.showInformationMessage(vscode.l10n.t('{0} already has a fuse_model() method.', cls.name));
    return;
  }
  if (!cls.fuseModelMethod) {
    void vscode.window.showInformationMessage(vscode.l10n.t('{0} has no fusible sequences.', cls.name));
    return;
  }
  const eol = document.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n';
  const at = new vscode.Position(cls.insertAt.line, cls.insertAt.character);
  const edit = new vscode.WorkspaceEdit();
  edit.insert(document.uri, at, fuseModelInsertion(cls, eol));
  if (!(await vscode.workspace.applyEdit(edit))) throw new Error(`VS Code refused the edit to ${document.uri.fsPath}`);
  log().info(`inserted fuse_model() into ${cls.name} (${document.uri.fsPath}): ${cls.sequences.map((s) => s.modules.join('+')).join(', ')}`);
  const editor = await vscode.window.showTextDocument(document);
  const firstLine = cls.insertAt.line + 2;
  editor.revealRange(new vscode.Range(firstLine, 0, firstLine, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}

export async function copyFuseModules(cache: PythonAnalysisCache, target: ClassTarget): Promise<void> {
  const { cls } = await currentClass(cache, target);
  if (!cls.fuseModulesCall) {
    void vscode.window.showInformationMessage(vscode.l10n.t('{0} has no fusible sequences.', cls.name));
    return;
  }
  await vscode.env.clipboard.writeText(cls.fuseModulesCall);
  void vscode.window.showInformationMessage(vscode.l10n.t('Copied the fuse_modules call for {0} ({1} group{2}); call model.eval() first.', cls.name, cls.sequences.length, cls.sequences.length === 1 ? '' : 's'));
}

export async function showUnsafe(cache: PythonAnalysisCache, target: ClassTarget): Promise<void> {
  const { cls } = await currentClass(cache, target);
  const detail = cls.unsafe.map((u) => `${u.modules.join(' + ')} (${u.pattern}): ${u.reason}.`).join('\n\n');
  void vscode.window.showWarningMessage(vscode.l10n.t('{0}: {1} group{2} must not be passed to fuse_modules', cls.name, cls.unsafe.length, cls.unsafe.length === 1 ? '' : 's'), { modal: true, detail });
}

export async function showNotes(cache: PythonAnalysisCache, target: ClassTarget): Promise<void> {
  const { cls } = await currentClass(cache, target);
  const detail = cls.notes.map((n) => `Line ${n.line + 1}: ${noteText(n)}.`).join('\n\n');
  void vscode.window.showInformationMessage(`${cls.name}: what ModelFuse could not follow`, { modal: true, detail });
}
