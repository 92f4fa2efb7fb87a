/**
 * Everything ModelFuse does in Python files, registered in one call from
 * activate(): the analysis cache, the CodeLens provider, its commands and the
 * "Python Sequences" view. Nothing runs until a Python document is shown.
 */
import * as vscode from 'vscode';
import { guarded } from '../host/notify';
import { PythonSequencesView, type OnnxSequencesSource } from '../views/pythonSequencesView';
import { FusionCodeLensProvider, PYTHON_COMMANDS, type ClassTarget } from './fusionCodeLensProvider';
import { PythonAnalysisCache } from './pythonAnalysisCache';
import { copyFuseModules, currentClass, insertFuseModel, showNotes, showUnsafe } from './pythonCommands';
import { REVEAL_PYTHON_SOURCE, revealPythonSource } from './revealPythonSource';

export function registerPythonFeatures(
  context: vscode.ExtensionContext,
  onnx?: OnnxSequencesSource,
): { cache: PythonAnalysisCache; view: PythonSequencesView } {
  const cache = new PythonAnalysisCache(context.extensionUri);
  const lenses = new FusionCodeLensProvider(cache);
  const view = new PythonSequencesView(cache, onnx);
  context.subscriptions.push(
    cache,
    lenses,
    view,
    vscode.languages.registerCodeLensProvider({ language: 'python' }, lenses),
    vscode.commands.registerCommand(PYTHON_COMMANDS.insertFuseModel, guarded('inserting fuse_model()', (t: ClassTarget) => insertFuseModel(cache, t))),
    vscode.commands.registerCommand(PYTHON_COMMANDS.copyFuseModules, guarded('copying the fuse_modules call', (t: ClassTarget) => copyFuseModules(cache, t))),
    vscode.commands.registerCommand(REVEAL_PYTHON_SOURCE, guarded('finding the Python source', (arg: unknown) => revealPythonSource(cache, arg))),
    vscode.commands.registerCommand(PYTHON_COMMANDS.showUnsafe, guarded('showing unsafe groups', (t: ClassTarget) => showUnsafe(cache, t))),
    vscode.commands.registerCommand(PYTHON_COMMANDS.showNotes, guarded('showing what was not understood', (t: ClassTarget) => showNotes(cache, t))),
    vscode.commands.registerCommand(
      PYTHON_COMMANDS.showSequences,
      guarded('showing the sequences', async (t: ClassTarget) => {
        const { document, cls } = await currentClass(cache, t);
        await view.revealClass(document, cls.name, cls.line);
      }),
    ),
  );
  return { cache, view };
}
