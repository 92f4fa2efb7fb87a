/**
 * "Go to Python Source" on a fusible sequence of an ONNX model: finds the
 * nn.Module class whose forward() makes that sequence (open Python editors
 * first, then the workspace's .py files) and selects its lines.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { linkToPython, type PythonLink } from '../engine/python/linkModules';
import { analyzePythonSource } from '../engine/python/analyzePython';
import type { PythonAnalysisCache } from './pythonAnalysisCache';

export const REVEAL_PYTHON_SOURCE = 'modelfuse.python.revealSource';
const MAX_WORKSPACE_FILES = 300;
const EXCLUDE = '**/{.git,node_modules,.venv,venv,env,site-packages,__pycache__,build,dist}/**';

/** The tree passes its element (a CandidateView); other callers may pass `{ modules }`. */
export function modulesOf(arg: unknown): (string | null)[] {
  const modules = (arg as { modules?: unknown } | undefined)?.modules;
  if (!Array.isArray(modules) || !modules.every((m) => m === null || typeof m === 'string')) {
    throw new Error('Go to Python Source needs a fusible sequence (select one in the Fusible Sequences view)');
  }
  return modules as (string | null)[];
}

interface Found {
  uri: vscode.Uri;
  link: PythonLink;
}

async function linksInOpen(cache: PythonAnalysisCache, docs: readonly vscode.TextDocument[], modules: (string | null)[]): Promise<Found[]> {
  const found: Found[] = [];
  for (const doc of docs) {
    const analysis = await cache.analysis(doc);
    for (const link of linkToPython(modules, analysis?.classes ?? [])) found.push({ uri: doc.uri, link });
  }
  return found;
}

/** Reads workspace files without opening them as documents (that would wake language servers for hundreds of files). */
async function linksInWorkspace(modules: (string | null)[], skip: Set<string>, wasmDir: string): Promise<Found[]> {
  const found: Found[] = [];
  const uris = await vscode.workspace.findFiles('**/*.py', EXCLUDE, MAX_WORKSPACE_FILES);
  for (const uri of uris) {
    if (skip.has(uri.toString())) continue;
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    if (!/\bforward\b/.test(text) && !/Sequential/.test(text)) continue; // cheap pre-filter: no module code here
    const analysis = await analyzePythonSource(text, wasmDir);
    for (const link of linkToPython(modules, analysis.classes)) found.push({ uri, link });
  }
  return found;
}

export async function revealPythonSource(cache: PythonAnalysisCache, arg: unknown): Promise<void> {
  const modules = modulesOf(arg);
  const label = modules.map((m) => m ?? '?').join(' + ');
  if (modules.some((m) => m === null)) {
    void vscode.window.showInformationMessage(vscode.l10n.t('The module paths of {0} are unknown: the model does not say which Python class defines it.', label));
    return;
  }
  const open = vscode.workspace.textDocuments.filter((d) => d.languageId === 'python');
  let found = await linksInOpen(cache, open, modules);
  if (found.length === 0) {
    const skip = new Set(open.map((d) => d.uri.toString()));
    found = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('ModelFuse: searching Python sources') }, () => linksInWorkspace(modules, skip, cache.wasmDir()));
  }
  if (found.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No nn.Module class in the open Python files or the workspace makes {0} in its forward().', label));
    return;
  }
  // Several classes can match (a subclass inherits the same forward); let the user pick when the best matches tie.
  const best = found.filter((f) => f.link.group.modules.length === found[0].link.group.modules.length);
  let choice = best[0];
  if (best.length > 1) {
    const picked = await vscode.window.showQuickPick(
      best.map((f) => ({ label: f.link.cls.name, description: `${path.basename(f.uri.fsPath)}:${f.link.group.lines.start + 1}`, detail: `${f.link.group.modules.join(' + ')}${f.link.instance ? ` as ${f.link.instance}` : ''}${f.link.unsafe ? ' — unsafe for fuse_modules' : ''}`, f })),
      { title: vscode.l10n.t('Python source of {0}', label), ignoreFocusOut: true },
    );
    if (!picked) return;
    choice = picked.f;
  }
  const g = choice.link.group;
  await vscode.window.showTextDocument(choice.uri, { selection: new vscode.Range(g.lines.start, 0, g.lines.end, Number.MAX_SAFE_INTEGER) });
}
