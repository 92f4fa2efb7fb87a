/**
 * The VS Code entry point. Activation is cheap and lazy: it registers the
 * custom editor, the side-panel views and the commands, and nothing else —
 * no model is read and no native module is loaded here. ONNX Runtime lives
 * only in the worker process, started by the first request that needs it.
 */
import * as vscode from 'vscode';
import { ModelEditorProvider } from './editor/modelEditorProvider';
import { ModelRegistry } from './editor/modelRegistry';
import { ModelTreeViews } from './views/modelTreeViews';
import { overviewCommands, registerCommands } from './commands/index';
import type { CommandContext } from './commands/commandContext';
import { registerVerificationInputs } from './commands/verificationInputs';
import { disposeLog, log } from './host/log';
import { initWorkerHost, shutDownWorker } from './host/workerHost';
import { initResults } from './host/results';
import { registerPythonFeatures } from './pythonEditor/registerPythonFeatures';
import { PythonDefinitions } from './editor/pythonDefinitions';
import { registerDiffPanel } from './views/diffPanel';
import { registerInspectorView } from './views/inspectorView';
import { initWebviewPaths } from './host/webviewPaths';
import { registerWalkthrough } from './walkthrough/registerWalkthrough';

export function activate(context: vscode.ExtensionContext): void {
  log().info(`ModelFuse ${context.extension.packageJSON.version ?? ''} activated (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'NOT trusted: viewing only'})`);
  initWorkerHost(context);
  initResults(context);
  initWebviewPaths(context);
  const registry = new ModelRegistry();
  const views = new ModelTreeViews(registry);
  // CodeLens and view for Python model files; their analysis cache also reads the Python definitions chosen for models.
  const python = registerPythonFeatures(context, {
    // The ONNX model open in ModelFuse: its sequences are marked on the Python groups that make them.
    active: () => {
      const doc = registry.active;
      const o = doc?.overview;
      return doc && o?.kind === 'onnx' ? { name: doc.fileName, groups: o.candidates.map((c) => c.modules) } : undefined;
    },
    onDidChange: registry.onDidChangeActive,
  });
  const pythonDefinitions = new PythonDefinitions(context.workspaceState, python.cache);
  const ctx: CommandContext = { registry, views, extensionUri: context.extensionUri, pythonDefinitions };
  context.subscriptions.push(
    registry,
    views,
    pythonDefinitions,
    // A saved definition names the modules of the open models it defines again.
    vscode.workspace.onDidSaveTextDocument((d) => d.uri.scheme === 'file' && pythonDefinitions.pythonSaved(d.uri.fsPath)),
    pythonDefinitions.onDidChange((model) => void registry.find(vscode.Uri.file(model))?.reload()),
    ModelEditorProvider.register(context, registry, overviewCommands(ctx), pythonDefinitions),
    ...registerCommands(ctx),
    registerVerificationInputs(ctx, context.workspaceState),
    ...registerWalkthrough(context, ctx),
    // Trust granted while models are open: the editors' buttons come alive.
    vscode.workspace.onDidGrantWorkspaceTrust(() => log().info('workspace trusted: fuse and merge are enabled')),
    { dispose: disposeLog },
  );
  // Parameter diff panel, module inspector (follows the Modules tree).
  registerDiffPanel(context);
  registerInspectorView(context, () => registry.active?.path).followActiveModel(registry.onDidChangeActive).follow(views.modules);
  void vscode.commands.executeCommand('setContext', 'modelfuse.hasModel', false);
}

export async function deactivate(): Promise<void> {
  await shutDownWorker();
}
