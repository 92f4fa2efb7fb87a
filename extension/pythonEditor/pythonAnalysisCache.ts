/**
 * One analysis per Python document version, computed off the keystroke path:
 * requests for a new version wait a short debounce, so typing does not parse
 * on every character; requests for the same version share one result.
 * tree-sitter loads asynchronously on first use; later parses take
 * milliseconds.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { analyzePythonSource, type ImportReader, type PythonAnalysis } from '../engine/python/analyzePython';
import { fileImportReader } from '../engine/python/importFiles';
import { log } from '../host/log';

const DEBOUNCE_MS = 250;

interface Entry {
  version: number;
  result: Promise<PythonAnalysis | undefined>;
}

/**
 * Names imported from workspace files (`from .blocks import conv3x3`) are read from disk beside
 * the file and under the workspace folders; an unsaved document has nothing beside it.
 */
function importReader(document: vscode.TextDocument): ImportReader | undefined {
  if (document.uri.scheme !== 'file') return undefined;
  const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  return fileImportReader(document.uri.fsPath, roots);
}

export class PythonAnalysisCache implements vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  /** Fires when a document's analysis for a new version is ready. */
  readonly onDidAnalyze = this.changed.event;

  constructor(private readonly extensionUri: vscode.Uri) {
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidCloseTextDocument((d) => this.entries.delete(d.uri.toString())),
    );
  }

  /** The analysis of this exact version (debounced when it is new); undefined when the file cannot be analysed. */
  analysis(document: vscode.TextDocument): Promise<PythonAnalysis | undefined> {
    const key = document.uri.toString();
    const entry = this.entries.get(key);
    if (entry && entry.version === document.version) return entry.result;
    const version = document.version;
    const debounce = entry ? DEBOUNCE_MS : 0; // the first analysis of a document is immediate
    const result = new Promise<void>((resolve) => setTimeout(resolve, debounce)).then(async () => {
      // A newer version arrived while waiting: let that one do the work.
      if (document.isClosed || document.version !== version) return this.entries.get(key)?.result;
      try {
        const a = await analyzePythonSource(document.getText(), this.wasmDir(), importReader(document));
        this.changed.fire(document.uri);
        return a;
      } catch (err) {
        log().warn(`Python analysis of ${document.uri.fsPath} failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
    });
    this.entries.set(key, { version, result });
    return result;
  }

  /** The wasm files are copied next to the bundle (dist/). */
  wasmDir(): string {
    return path.join(this.extensionUri.fsPath, 'dist');
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    this.entries.clear();
  }
}
