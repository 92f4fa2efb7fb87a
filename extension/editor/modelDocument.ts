/**
 * One open model file (.onnx or .safetensors): its overview as the worker
 * computed it, or the progress of that computation, or why it failed. Read
 * only — ModelFuse never edits a model in place; results are new files. The
 * overview is recomputed when the file changes on disk.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelOverview, OverviewLoadProgress } from '../protocol/modelOverview';
import { workerRequest } from '../host/workerHost';
import { errorLine, isCancellation } from '../host/notify';
import { log } from '../host/log';
import type { PythonDefinition } from '../engine/graph/pythonFolds';

export type DocumentState =
  | { phase: 'loading'; progress: OverviewLoadProgress }
  | { phase: 'ready'; overview: ModelOverview }
  | { phase: 'error'; message: string };

export class ModelDocument implements vscode.CustomDocument {
  private _state: DocumentState = { phase: 'loading', progress: { message: 'starting the worker', fraction: null } };
  private _busy: string | null = null;
  private _namedFrom: string | null = null;
  private _graphDiff: { base: string | null; show: boolean } = { base: null, show: false };
  private loading: vscode.CancellationTokenSource | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposed = new vscode.EventEmitter<void>();
  private readonly watcher: vscode.FileSystemWatcher;
  /** Fires whenever `state` or `busy` changes. */
  readonly onDidChange = this.changed.event;
  readonly onDidDispose = this.disposed.event;

  /** `python`: the model's Python definition the user chose, analysed (see pythonDefinitions.ts). */
  constructor(
    readonly uri: vscode.Uri,
    private readonly python: (model: string) => Promise<PythonDefinition | undefined> = async () => undefined,
  ) {
    // A re-export or a `git checkout` must not leave a stale overview. The folder is watched and events
    // filtered by path: a file name used as a glob would misread names such as `model[1].onnx`.
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(uri.fsPath)), '*'));
    const mine = (u: vscode.Uri) => u.fsPath === uri.fsPath;
    this.watcher.onDidChange((u) => mine(u) && void this.reload());
    this.watcher.onDidCreate((u) => mine(u) && void this.reload());
    this.watcher.onDidDelete((u) => mine(u) && this.setState({ phase: 'error', message: `${uri.fsPath}: the file was deleted` }));
  }

  get path(): string {
    return this.uri.fsPath;
  }

  get fileName(): string {
    return path.basename(this.uri.fsPath);
  }

  get state(): DocumentState {
    return this._state;
  }

  get overview(): ModelOverview | undefined {
    return this._state.phase === 'ready' ? this._state.overview : undefined;
  }

  /** The model the Graph tab compares this one with (diff mode), and whether the tab should come to the front. */
  get graphDiff(): { base: string | null; show: boolean } {
    return this._graphDiff;
  }

  setGraphDiff(base: string | null, show: boolean): void {
    this._graphDiff = { base, show };
    this.changed.fire();
  }

  /** A running operation on this model ("Fusing 3 sequences…"); the editor disables its buttons meanwhile. */
  get busy(): string | null {
    return this._busy;
  }

  /** Marks the document busy while `work` runs. */
  async whileBusy<T>(label: string, work: () => Promise<T>): Promise<T> {
    this._busy = label;
    this.changed.fire();
    try {
      return await work();
    } finally {
      this._busy = null;
      this.changed.fire();
    }
  }

  /** (Re)computes the overview in the worker; the previous load, if still running, is cancelled. */
  reload(): Promise<void> {
    this.loading?.cancel();
    const cts = new vscode.CancellationTokenSource();
    this.loading = cts;
    this.setState({ phase: 'loading', progress: { message: 'starting the worker', fraction: null } });
    const started = Date.now();
    return this.requestOverview(cts).then(
      ({ overview, python }) => {
        if (this.loading !== cts) return;
        this._namedFrom = python;
        log().info(`opened ${this.path} in ${Date.now() - started} ms${overview.kind === 'onnx' ? `: ${overview.nodeCount} nodes, ${overview.candidates.length} fusible sequences` : `: ${overview.tensors.length} tensors`}`);
        this.setState({ phase: 'ready', overview });
      },
      (err) => {
        if (this.loading !== cts || isCancellation(err)) return;
        const message = errorLine(`reading ${this.path}`, err);
        log().error(`cannot open ${this.path}: ${message}`);
        this.setState({ phase: 'error', message });
      },
    ).finally(() => {
      if (this.loading === cts) this.loading = undefined;
      cts.dispose();
    });
  }

  /** The overview, computed in the worker with the model's Python definition when one was chosen. */
  private async requestOverview(cts: vscode.CancellationTokenSource): Promise<{ overview: ModelOverview; python: string | null }> {
    const python = await this.python(this.path);
    if (cts.token.isCancellationRequested) throw new vscode.CancellationError();
    const overview = await workerRequest('model/overview', { path: this.path, python }, {
      token: cts.token,
      onProgress: (p) => {
        if (this.loading !== cts) return;
        this.setState({ phase: 'loading', progress: { message: p.message, fraction: p.total ? (p.done ?? 0) / p.total : null } });
      },
    });
    return { overview, python: python?.file ?? null };
  }

  /** The Python file (its name) the current overview's module names were completed from, if any. */
  get namedFrom(): string | null {
    return this._namedFrom;
  }

  dispose(): void {
    this.loading?.cancel();
    this.watcher.dispose();
    this.disposed.fire();
    this.changed.dispose();
    this.disposed.dispose();
  }

  private setState(state: DocumentState): void {
    this._state = state;
    this.changed.fire();
  }
}

