/**
 * "Merge LoRA Adapter…" (command palette, editor title, Explorer context on
 * an adapter folder or .safetensors): choose the base and the adapters with
 * their weights, confirm the key mapping the engine worked out (the `lora
 * plan`), then merge in the worker with a cancellable progress notification,
 * verify against the base in ONNX Runtime (ONNX bases), and show the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { LoraAdapterArg, LoraPlanResult, ModelChangeOutcome } from '../protocol/extensionMethods';
import type { VerifyReport } from '../protocol/workerProtocol';
import { currentSettings } from '../host/config';
import { log } from '../host/log';
import { guarded } from '../host/notify';
import { freeOutputPath } from '../host/outputNaming';
import { requireTrust } from '../host/trust';
import { workerRequest } from '../host/workerHost';
import type { CommandContext } from './commandContext';
import { isUriLike, resourceArgs, type UriLike } from './commandArgs';
import { adapterLabel, parseWeight, roleOf } from './loraArgs';
import { mergeSummary, planRows } from './summaries';
import { progressBar, showOutcome } from './fuseWorkflow';

export const MERGE_LORA = 'modelfuse.mergeLora';

export function registerMergeLora(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    MERGE_LORA,
    guarded('merging LoRA adapters', async (...args: unknown[]) => {
      requireTrust('Merge LoRA adapter');
      // Editor title passes (uri, {groupId}); the Explorer (uri, uri[]); the palette nothing.
      const resources = Array.isArray(args[1]) || isUriLike(args[0]) ? resourceArgs(args) : [];
      const { base: preBase, adapters: preAdapters } = await classify(ctx, resources);
      const base = preBase ?? (await pickBase(ctx));
      if (!base) return;
      const adapterPaths = preAdapters.length ? preAdapters : await pickAdapters(base);
      if (!adapterPaths?.length) return;
      const adapters = await askWeights(adapterPaths);
      if (!adapters) return;
      const plan = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'ModelFuse: matching adapter keys' }, () =>
        workerRequest('ext.loraPlan', { base, adapters }),
      );
      logPlan(plan);
      if (plan.errors.length) throw new ModelFuseError(`${base}: cannot merge: ${plan.errors.join(' | ')}`);
      if (plan.pairs.length === 0) throw new ModelFuseError(`${base}: no adapter module matches a tensor of this base (${plan.unmatched.length} unmatched; see the log)`);
      const output = freeOutputPath(base, currentSettings().mergedName, fs.existsSync);
      if (!(await confirmPlan(plan, output))) return;
      await merge(base, adapters, output, plan);
    }),
  );
}

/** Sorts the resources the command was invoked on into base and adapters. */
async function classify(ctx: CommandContext, resources: UriLike[]): Promise<{ base: string | undefined; adapters: string[] }> {
  let base: string | undefined;
  const adapters: string[] = [];
  for (const r of resources) {
    if (r.scheme !== 'file') throw new ModelFuseError(`${r.fsPath}: ModelFuse merges local files only`);
    const stat = fs.statSync(r.fsPath, { throwIfNoEntry: false });
    if (!stat) throw new ModelFuseError(`${r.fsPath}: file not found`);
    let holdsLora: boolean | undefined;
    if (!stat.isDirectory() && r.fsPath.toLowerCase().endsWith('.safetensors')) {
      const open = ctx.registry.find(vscode.Uri.file(r.fsPath))?.overview;
      const overview = open ?? (await workerRequest('ext.overview', { path: r.fsPath }));
      holdsLora = overview.kind === 'safetensors' && overview.loraAdapter !== null;
    }
    const role = roleOf(r, stat.isDirectory(), holdsLora);
    if (role === 'unsupported') throw new ModelFuseError(`${r.fsPath}: not a model or adapter (expected .onnx, .safetensors or a PEFT adapter folder)`);
    if (role === 'adapter') adapters.push(r.fsPath);
    else if (base) throw new ModelFuseError(`${r.fsPath}: two bases selected (${path.basename(base)} and ${path.basename(r.fsPath)}); select one base`);
    else base = r.fsPath;
  }
  // Invoked on adapters only: the base is asked for (pickBase offers the active model first).
  return { base, adapters };
}

async function pickBase(ctx: CommandContext): Promise<string | undefined> {
  type Item = vscode.QuickPickItem & { path?: string };
  const items: Item[] = [];
  const seen = new Set<string>();
  const add = (p: string, description: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    items.push({ label: `$(file) ${path.basename(p)}`, description, detail: vscode.workspace.asRelativePath(p), path: p });
  };
  // The model being looked at first, then other open ONNX models, then the workspace's .onnx files.
  const active = ctx.registry.active;
  if (active?.overview?.kind === 'onnx') add(active.path, 'active model');
  for (const doc of ctx.registry.all()) if (doc.overview?.kind === 'onnx') add(doc.path, 'open');
  const found = await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 200);
  for (const u of found.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) add(u.fsPath, '');
  items.push({ label: '$(folder-opened) Browse…', description: '.onnx or .safetensors base' });
  const pick = await vscode.window.showQuickPick(items, { title: 'Merge LoRA: base model', placeHolder: 'The model the adapters were trained on', matchOnDetail: true });
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  const uris = await vscode.window.showOpenDialog({ title: 'Merge LoRA: base model', canSelectMany: false, filters: { Models: ['onnx', 'safetensors'] }, openLabel: 'Use as base' });
  return uris?.[0]?.fsPath;
}

async function pickAdapters(base: string): Promise<string[] | undefined> {
  type Item = vscode.QuickPickItem & { path?: string; browse?: 'folder' | 'file' };
  const found = await vscode.workspace.findFiles('**/adapter_config.json', '**/node_modules/**', 200);
  const items: Item[] = found
    .map((u) => path.dirname(u.fsPath))
    .sort((a, b) => closeness(b, base) - closeness(a, base) || a.localeCompare(b))
    .map((dir) => ({ label: `$(folder) ${adapterLabel(dir)}`, description: 'PEFT adapter', detail: dir, path: dir }));
  items.push({ label: '$(folder-opened) Browse for an adapter folder…', browse: 'folder' }, { label: '$(file-binary) Browse for an adapter .safetensors file…', browse: 'file' });
  const picks = await vscode.window.showQuickPick(items, { title: `Merge LoRA into ${path.basename(base)}: adapters`, placeHolder: 'Choose one or more adapters', canPickMany: true });
  if (!picks?.length) return undefined;
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
  return paths;
}

/** Adapters beside the base first: the common layout is base + adapter in one folder tree. */
function closeness(dir: string, base: string): number {
  const a = path.resolve(dir).split(path.sep);
  const b = path.resolve(path.dirname(base)).split(path.sep);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

async function askWeights(paths: string[]): Promise<LoraAdapterArg[] | undefined> {
  const out: LoraAdapterArg[] = [];
  for (const p of paths) {
    const text = await vscode.window.showInputBox({
      title: `Merge LoRA: weight of ${adapterLabel(p)}`,
      prompt: 'Multiplies the adapter’s delta (1 = as trained; 0.5 = half strength; negative values subtract it)',
      value: '1',
      validateInput: (t) => {
        const r = parseWeight(t);
        return 'problem' in r ? r.problem : undefined;
      },
    });
    if (text === undefined) return undefined;
    const r = parseWeight(text);
    if ('problem' in r) return undefined;
    out.push({ path: p, weight: r.weight });
  }
  return out;
}

function logPlan(plan: LoraPlanResult): void {
  log().info(`lora plan for ${plan.base} (${plan.baseKind}):`);
  for (const p of plan.pairs) log().info(`  ${p.module} → ${p.target} [${p.targetShape.join(', ')}] scale ${p.scale} (${p.evidence.join('; ')})`);
  for (const u of plan.unmatched) log().warn(`  unmatched ${u.module}: ${u.reason}`);
  for (const e of plan.errors) log().error(`  ${e}`);
}

/** Shows every pairing (and every unmatched module); only the explicit "Merge" row goes on. */
async function confirmPlan(plan: LoraPlanResult, output: string): Promise<boolean> {
  type Row = vscode.QuickPickItem & { go?: boolean };
  const n = plan.pairs.length;
  const u = plan.unmatched.length;
  const go: Row = {
    label: `$(check) Merge ${n} module${n === 1 ? '' : 's'} → ${path.basename(output)}`,
    description: u ? `${u} unmatched module${u === 1 ? '' : 's'} will be left out` : 'all adapter modules matched',
    go: true,
  };
  const rows: Row[] = [go, { label: 'Key mapping', kind: vscode.QuickPickItemKind.Separator }, ...planRows(plan).map((r) => ({ label: r.label, description: r.description, detail: r.detail }))];
  const qp = vscode.window.createQuickPick<Row>();
  qp.title = `Merge LoRA into ${path.basename(plan.base)}: confirm the key mapping`;
  qp.placeholder = 'Review which base tensor each adapter module changes, then choose “Merge”';
  qp.items = rows;
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  return new Promise<boolean>((resolve) => {
    qp.onDidAccept(() => {
      const chosen = qp.selectedItems[0];
      if (chosen?.go) {
        resolve(true);
        qp.hide();
      }
    });
    qp.onDidHide(() => {
      resolve(false);
      qp.dispose();
    });
    qp.show();
  });
}

async function merge(base: string, adapters: LoraAdapterArg[], output: string, plan: LoraPlanResult): Promise<void> {
  const settings = currentSettings();
  log().info(`merge ${adapters.map((a) => `${a.path}=${a.weight}`).join(', ')} into ${base} → ${output}`);
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ModelFuse: merging LoRA into ${path.basename(base)}`, cancellable: true },
    async (progress, token): Promise<ModelChangeOutcome> => {
      const mergeResult = await workerRequest('ext.loraMerge', { base, adapters, output, allowUnmatched: plan.unmatched.length > 0 }, { token, onProgress: progressBar(progress) });
      for (const m of mergeResult.merged) log().info(`  ${m.key} → ${m.target}: ‖ΔW‖ ${m.delta_fro.toExponential(3)}, ‖ΔW‖/‖W‖ ${m.rel_change.toExponential(3)}`);
      log().info(`  wrote ${mergeResult.files.join(', ')}`);
      let verification: VerifyReport | null = null;
      if (settings.verifyAfterFuse && plan.baseKind === 'onnx') {
        progress.report({ message: 'comparing outputs with the base in ONNX Runtime' });
        try {
          verification = await workerRequest('verify', { modelA: base, modelB: mergeResult.output, atol: settings.atol, rtol: settings.rtol, runs: 0 }, { token });
        } catch (err) {
          log().warn(`  comparison with the base did not complete: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      return { kind: 'lora-merge', before: base, after: mergeResult.output, merge: mergeResult, plan, verification };
    },
  );
  if (outcome.kind !== 'lora-merge') return;
  const summary = mergeSummary(outcome.merge, outcome.verification);
  log().info(summary);
  void showOutcome(summary, outcome, false);
}
