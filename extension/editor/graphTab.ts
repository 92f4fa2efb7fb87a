/**
 * The host side of the editor's Graph tab (webview/graph): forwards the
 * webview's requests to the worker's graph.* methods for this document, runs
 * "Fuse selected modules" — the side panel's command, with the graph's
 * selection as its arguments, exactly as the tree's context menu passes its
 * selection — keeps the graph's selection and the Fusible Sequences view in
 * step, and handles diff mode and "Locate drift".
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { CandidateView } from '../engine/fusion/candidateView';
import type { MessagePeer, OverviewHostSpec, OverviewWebviewSpec } from '../protocol/webviewProtocol';
import { workerRequest } from '../host/workerHost';
import { isTrusted, UNTRUSTED_REASON } from '../host/trust';
import type { ModelDocument } from './modelDocument';

export const FUSE_SELECTED_COMMAND = 'modelfuse.fuseSelected';
export const REVEAL_SOURCE_COMMAND = 'modelfuse.python.revealSource';

/** What the graph tab needs from the side panel. */
export interface SidePanelLink {
  /** Selects a sequence in the Fusible Sequences view, if it is visible (the editor keeps the focus). */
  selectInSidePanel(doc: ModelDocument, candidateId: string): Promise<void>;
  /** Fires with the ids selected in the Fusible Sequences view. */
  onSequenceSelection(listener: (candidateIds: string[]) => void): vscode.Disposable;
}

/** Diff modes asked for before their editor opened (after path → before path, and whether to show the tab). */
const pendingDiffs = new Map<string, { base: string; show: boolean }>();
const openDocs = new Map<string, ModelDocument>();

/** Compare Models…: the Graph tab of `after` compares it with `before` (now if it is open, else when it opens). */
export function rememberGraphDiff(before: string, after: string, show = false): void {
  if (!/\.onnx$/i.test(before) || !/\.onnx$/i.test(after)) return;
  const doc = openDocs.get(after);
  if (doc) doc.setGraphDiff(before, show);
  else pendingDiffs.set(after, { base: before, show });
}

/** "Graph diff" after a fuse or a merge: opens the result in the editor, its Graph tab in diff mode against the original. */
export async function showGraphDiff(before: string, after: string, editorViewType: string): Promise<void> {
  rememberGraphDiff(before, after, true);
  await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(after), editorViewType);
}

export function attachGraphTab(
  doc: ModelDocument,
  peer: MessagePeer<OverviewHostSpec, OverviewWebviewSpec>,
  sidePanel: SidePanelLink,
  isActive: () => boolean,
): vscode.Disposable {
  const pending = pendingDiffs.get(doc.path);
  if (pending) {
    pendingDiffs.delete(doc.path);
    doc.setGraphDiff(pending.base, pending.show);
  }
  openDocs.set(doc.path, doc);
  const candidates = (): CandidateView[] => {
    const o = doc.overview;
    if (!o || o.kind !== 'onnx') throw new ModelFuseError(`${doc.path}: the graph view shows ONNX models only`);
    return o.candidates;
  };
  const base = (): string => {
    const b = doc.graphDiff.base;
    if (!b) throw new ModelFuseError('choose a model to compare with first');
    return b;
  };
  peer.handle('graphOpen', () => workerRequest('graph/open', { path: doc.path }));
  peer.handle('graphLayout', ({ expanded }) => workerRequest('graph/layout', { path: doc.path, expanded }));
  peer.handle('graphNode', ({ node }) => workerRequest('graph/node', { path: doc.path, node }));
  peer.handle('graphOpenBase', () => workerRequest('graph/open', { path: base() }));
  peer.handle('graphLayoutBase', ({ expanded }) => workerRequest('graph/layout', { path: base(), expanded }));
  peer.handle('graphDiff', async () => (doc.graphDiff.base ? workerRequest('graph/diff', { before: doc.graphDiff.base, after: doc.path }) : null));
  peer.handle('graphSelect', async ({ reveal }) => {
    if (reveal && isActive()) await sidePanel.selectInSidePanel(doc, reveal);
  });
  peer.handle('fuseSelected', async ({ candidateIds }) => {
    const byId = new Map(candidates().map((c) => [c.id, c]));
    const selected = candidateIds.map((id) => byId.get(id)).filter((c): c is CandidateView => c !== undefined);
    if (selected.length === 0) throw new ModelFuseError('Fuse selected modules: select sequences on the graph first');
    // (clicked, selection): the arguments a tree context menu passes, so the command resolves them the same way.
    await vscode.commands.executeCommand(FUSE_SELECTED_COMMAND, selected[0], selected);
  });
  peer.handle('goToSource', async ({ modules }) => {
    await vscode.commands.executeCommand(REVEAL_SOURCE_COMMAND, { modules });
  });
  peer.handle('chooseDiffBase', async ({ clear }) => {
    if (clear) return doc.setGraphDiff(null, true);
    const picked = await vscode.window.showOpenDialog({
      title: `Compare ${path.basename(doc.path)} with (before)`, canSelectMany: false, filters: { 'ONNX models': ['onnx'] },
      defaultUri: vscode.Uri.file(path.dirname(doc.path)), openLabel: 'Compare',
    });
    if (picked?.[0]) doc.setGraphDiff(picked[0].fsPath, true);
  });
  peer.handle('locateDrift', async () => {
    if (!isTrusted()) throw new ModelFuseError(UNTRUSTED_REASON);
    const before = base();
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Locating drift between ${path.basename(before)} and ${path.basename(doc.path)}`, cancellable: true },
      // The verification's inputs: random, seeded as the verification after a fuse seeds them.
      (progress, token) => workerRequest('graph/drift', { modelA: before, modelB: doc.path }, { token, onProgress: (p) => progress.report({ message: p.message }) }),
    );
  });
  const selection = sidePanel.onSequenceSelection((candidateIds) => {
    if (isActive()) peer.notify('graphSelection', { candidateIds });
  });
  return new vscode.Disposable(() => {
    selection.dispose();
    if (openDocs.get(doc.path) === doc) openDocs.delete(doc.path);
  });
}

