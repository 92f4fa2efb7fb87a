/**
 * Which Python file defines each open model, as the user chose it ("Name Modules from a Python
 * Definition…"): the extension's `--python`. An eval-mode export folds BatchNorms into the Convs
 * and names neither; the definition names them, so the Modules tree and the PyTorch fuse list
 * can give `[conv, bn, relu]` where they could only say why not. Never guessed from files nearby
 * (a folder can hold many models); remembered per model in the workspace.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PythonDefinition } from '../engine/graph/pythonFolds';
import type { PythonAnalysisCache } from '../pythonEditor/pythonAnalysisCache';
import { log } from '../host/log';
import { ModelFuseError } from '../engine/errors';

const STATE_KEY = 'modelfuse.pythonDefinitions';

export class PythonDefinitions {
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with a model's path when its definition was saved with changes (whoever chooses one reloads the model). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly state: vscode.Memento,
    private readonly cache: PythonAnalysisCache,
  ) {}

  /** The Python file chosen for `model`, if any. */
  chosenFor(model: string): string | undefined {
    return this.all()[model];
  }

  async choose(model: string, python: string | undefined): Promise<void> {
    const all = { ...this.all() };
    if (python === undefined) delete all[model];
    else all[model] = python;
    await this.state.update(STATE_KEY, all);
  }

  /** A saved Python file: the models it defines are read again with its new classes. */
  pythonSaved(file: string): void {
    for (const [model, python] of Object.entries(this.all())) if (python === file) this.changed.fire(model);
  }

  /**
   * The chosen definition, analysed. A file that is gone or cannot be analysed since it was chosen leaves
   * the BatchNorms unnamed and says so in the log: the model still opens.
   */
  async definitionFor(model: string): Promise<PythonDefinition | undefined> {
    const file = this.chosenFor(model);
    if (!file) return undefined;
    try {
      const definition = await this.analyse(file);
      log().info(`naming the modules of ${path.basename(model)} from ${file} (${definition.classes.length} classes)`);
      return definition;
    } catch (err) {
      log().warn(`cannot use the Python definition of ${model}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  /**
   * A Python file's classes (with unsaved edits, and the workspace modules it imports), or one error
   * naming the file: the command checks a file this way before it remembers it.
   */
  async analyse(file: string): Promise<PythonDefinition> {
    let document: vscode.TextDocument;
    try {
      document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    } catch (err) {
      throw new ModelFuseError(vscode.l10n.t('{0}: cannot be read as a Python file ({1})', file, err instanceof Error ? err.message : String(err)));
    }
    const analysis = await this.cache.analysis(document);
    if (!analysis) throw new ModelFuseError(vscode.l10n.t('{0}: the Python analysis failed (the log says why)', file));
    if (analysis.hasSyntaxErrors) log().warn(`${file} has syntax errors; classes near them may be missed`);
    return { file: path.basename(file), classes: analysis.classes };
  }

  dispose(): void {
    this.changed.dispose();
  }

  private all(): Record<string, string> {
    return this.state.get<Record<string, string>>(STATE_KEY) ?? {};
  }
}
