/**
 * The two pickers of "Merge LoRA Adapter…": adapters (pre-checked when the
 * choice is clear) and the base (ONNX and safetensors, the one beside the
 * adapter first, unparsable files listed apart with the reason). The files
 * are parsed in the worker (`lora/probeBases`) while the picker shows as busy;
 * the order and the pre-checks are mergeCandidates.ts's pure rules.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ProbeBasesResult } from '../protocol/extensionMethods';
import { log } from '../host/log';
import { workerRequest } from '../host/workerHost';
import { adapterLabel } from './loraArgs';
import { adapterRows, baseRows, modelFilePaths } from './mergeCandidates';
import { messageOf } from '../host/remedyText';

const EXCLUDE = '**/{node_modules,.git}/**';
const FOUND_LIMIT = 500;

/** What the workspace offers: adapter folders, and every model file parsed once in the worker. */
export interface WorkspaceModels extends ProbeBasesResult {
  adapterFolders: string[];
}

/** Finds and parses the workspace's model files (plus `extra`, e.g. open models outside it). */
export async function probeWorkspace(extra: readonly string[]): Promise<WorkspaceModels> {
  const [models, indexes, configs] = await Promise.all([
    vscode.workspace.findFiles('**/*.{onnx,safetensors}', EXCLUDE, FOUND_LIMIT),
    vscode.workspace.findFiles('**/*.safetensors.index.json', EXCLUDE, FOUND_LIMIT),
    vscode.workspace.findFiles('**/adapter_config.json', EXCLUDE, FOUND_LIMIT),
  ]);
  const paths = modelFilePaths([...models, ...indexes].map((u) => u.fsPath).concat(extra));
  const probed = paths.length ? await workerRequest('lora/probeBases', { paths }) : { bases: [], adapterFiles: [], skipped: [] };
  for (const s of probed.skipped) log().info(`merge LoRA: ${s.path} is not offered as a base: ${s.reason}`);
  return { ...probed, adapterFolders: configs.map((u) => path.dirname(u.fsPath)) };
}

type AdapterItem = vscode.QuickPickItem & { path?: string; browse?: 'folder' | 'file' };

/**
 * Adapters to merge (several may be checked). Accepting with nothing checked
 * says so and offers to choose again: a merge is never cancelled silently.
 */
export async function pickAdapters(models: Promise<WorkspaceModels>, base: string | undefined): Promise<string[] | undefined> {
  const qp = vscode.window.createQuickPick<AdapterItem>();
  qp.title = base ? `Merge LoRA into ${path.basename(base)}: adapters` : 'Merge LoRA: adapters';
  qp.placeholder = 'Check one or more adapters (Space or click), then press Enter';
  qp.canSelectMany = true;
  qp.matchOnDetail = true;
  // Each step of the merge stays until answered: when the palette or the previous step closes, the
  // workbench gives the focus back to the model's webview a moment later, and without this the
  // picker just shown would close on that focus change (seen in e2e: the base picker vanished).
  qp.ignoreFocusOut = true;
  qp.busy = true;
  qp.items = browseItems();
  qp.show();
  void models.then(
    (m) => {
      const rows = adapterRows(m.adapterFolders, m.adapterFiles, base);
      const items: AdapterItem[] = rows.map((r) => ({
        label: `${r.kind === 'folder' ? '$(folder)' : '$(file-binary)'} ${adapterLabel(r.path)}`,
        description: [r.kind === 'folder' ? 'PEFT adapter' : 'adapter file', r.beside ? 'beside the base' : ''].filter(Boolean).join(' · '),
        detail: vscode.workspace.asRelativePath(r.path),
        path: r.path,
      }));
      if (!items.length) qp.placeholder = 'No adapter found in the workspace: browse for one';
      qp.items = [...items, ...browseItems()];
      qp.selectedItems = items.filter((_, i) => rows[i].picked);
      qp.busy = false;
    },
    (err) => {
      qp.busy = false;
      qp.placeholder = `Could not list the workspace's adapters (${messageOf(err)}): browse for one`;
    },
  );
  const picks = await acceptOnce(qp, () => [...qp.selectedItems]);
  if (picks === undefined) return undefined;
  if (picks.length === 0) {
    const again = await vscode.window.showInformationMessage('Merge LoRA: no adapter was checked, so nothing was merged. Check an adapter (Space or click its box), then press Enter.', 'Choose again');
    return again ? pickAdapters(models, base) : undefined;
  }
  const paths = picks.filter((p) => p.path).map((p) => p.path as string);
  for (const b of picks.filter((p) => p.browse)) {
    const uris = await vscode.window.showOpenDialog({
      title: 'Merge LoRA: adapter',
      canSelectMany: true,
      canSelectFiles: b.browse === 'file',
      canSelectFolders: b.browse === 'folder',
      filters: b.browse === 'file' ? { Adapters: ['safetensors'] } : undefined,
      openLabel: 'Use adapter',
    });
    paths.push(...(uris ?? []).map((u) => u.fsPath));
  }
  if (paths.length === 0) void vscode.window.showInformationMessage('Merge LoRA: no adapter was chosen, so nothing was merged.');
  return paths.length ? paths : undefined;
}

function browseItems(): AdapterItem[] {
  return [
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(folder-opened) Browse for an adapter folder…', browse: 'folder' },
    { label: '$(file-binary) Browse for an adapter .safetensors file…', browse: 'file' },
  ];
}

type BaseItem = vscode.QuickPickItem & { path?: string; skippedReason?: string; browse?: true };

export interface BaseContext {
  adapters: readonly string[];
  active?: string;
  open: readonly string[];
  /** Results ModelFuse wrote in the workspace, ranked after the originals. */
  ownResults?: readonly string[];
}

/** The base model: one choice; a row of a file that did not parse explains itself and keeps the picker open. */
export async function pickBase(models: Promise<WorkspaceModels>, where: BaseContext): Promise<string | undefined> {
  const qp = vscode.window.createQuickPick<BaseItem>();
  qp.title = `Merge ${where.adapters.map((a) => adapterLabel(a)).join(', ')}: base model`;
  qp.placeholder = 'The model the adapters were trained on (ONNX or safetensors)';
  qp.matchOnDetail = true;
  qp.ignoreFocusOut = true; // see pickAdapters
  qp.busy = true;
  const browse: BaseItem = { label: '$(folder-opened) Browse…', description: '.onnx, .safetensors or model.safetensors.index.json', browse: true };
  qp.items = [browse];
  qp.show();
  void models.then(
    (m) => {
      const rows = baseRows({ bases: m.bases, adapters: where.adapters, active: where.active, open: where.open, ownResults: where.ownResults });
      const items: BaseItem[] = rows.map((r) => ({ label: `$(file) ${path.basename(r.path)}`, description: r.description, detail: vscode.workspace.asRelativePath(r.path), path: r.path }));
      if (!items.length) qp.placeholder = 'No usable ONNX or safetensors base in the workspace: browse for one';
      const skipped: BaseItem[] = m.skipped.map((s) => ({ label: `$(warning) ${path.basename(s.path)}`, description: 'skipped', detail: `${vscode.workspace.asRelativePath(s.path)} — ${s.reason}`, skippedReason: s.reason, path: s.path }));
      const skippedSection: BaseItem[] = skipped.length ? [{ label: `Skipped: ${skipped.length} file${skipped.length === 1 ? '' : 's'} that cannot be a base`, kind: vscode.QuickPickItemKind.Separator }, ...skipped] : [];
      qp.items = [...items, { label: '', kind: vscode.QuickPickItemKind.Separator }, browse, ...skippedSection];
      qp.busy = false;
    },
    (err) => {
      qp.busy = false;
      qp.placeholder = `Could not list the workspace's models (${messageOf(err)}): browse for one`;
    },
  );
  const pick = await acceptOnce(qp, () => qp.selectedItems[0], (item) => {
    if (!item) return false; // Enter on an empty filter result: nothing to take yet
    if (!item.skippedReason) return true;
    void vscode.window.showWarningMessage(`${path.basename(item.path!)} cannot be a base: ${item.skippedReason}`);
    return false;
  });
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  const uris = await vscode.window.showOpenDialog({ title: 'Merge LoRA: base model', canSelectMany: false, filters: { Models: ['onnx', 'safetensors', 'json'] }, openLabel: 'Use as base' });
  return uris?.[0]?.fsPath;
}

/**
 * Shows `qp` until Enter on an acceptable choice (→ that choice) or until it
 * is hidden (Escape → undefined). `acceptable` may refuse a choice, keeping the picker open.
 */
function acceptOnce<I extends vscode.QuickPickItem, T>(
  qp: vscode.QuickPick<I>,
  choice: () => T,
  acceptable: (c: T) => boolean = () => true,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve) => {
    let result: T | undefined;
    qp.onDidAccept(() => {
      const c = choice();
      if (!acceptable(c)) return;
      result = c;
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(result);
      qp.dispose();
    });
  });
}
