/**
 * "Merge LoRA Adapter…" (command palette, editor title, Explorer context on
 * an adapter folder or .safetensors): choose the adapters and the base
 * (mergePickers.ts) and the weights, confirm the key mapping the engine
 * worked out (the `lora plan`) — or, when modules are unmatched, pair them in
 * the mapping editor, which saves a mapping file; a weight other nodes share
 * is asked about first (sharedWeightChoice.ts) — then merge in the worker
 * with a cancellable progress notification, verify against the base in ONNX
 * Runtime (ONNX bases), and show the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import { zeroScaleNote } from '../engine/lora/zeroScale';
import type { LoraAdapterArg, LoraPlanResult, ModelChangeOutcome } from '../protocol/extensionMethods';
import type { VerifyReport } from '../protocol/workerProtocol';
import { currentSettings } from '../host/config';
import { log } from '../host/log';
import { guarded } from '../host/notify';
import { messageOf, vscodeText } from '../host/remedyText';
import { outputFor, recordResult, results } from '../host/results';
import { withProgressNotification } from '../host/progress';
import { requireTrust } from '../host/trust';
import { workerRequest } from '../host/workerHost';
import type { ModelDocument } from '../editor/modelDocument';
import { editMapping } from '../views/mappingEditor';
import type { CommandContext } from './commandContext';
import { isUriLike, resourceArgs, type UriLike } from './commandArgs';
import { adapterLabel, parseWeight, roleOf } from './loraArgs';
import { pickAdapters, pickBase, probeWorkspace } from './mergePickers';
import { mergeSummary, planRows } from './summaries';
import { progressBar, showOutcome } from './fuseWorkflow';
import { chooseSharedPolicy } from './sharedWeightChoice';

export const MERGE_LORA = 'modelfuse.mergeLora';

export function registerMergeLora(ctx: CommandContext): vscode.Disposable {
  return vscode.commands.registerCommand(
    MERGE_LORA,
    guarded('merging LoRA adapters', async (...args: unknown[]) => {
      requireTrust('Merge LoRA adapter');
      // Editor title passes (uri, {groupId}); the Explorer (uri, uri[]); the palette nothing.
      const resources = Array.isArray(args[1]) || isUriLike(args[0]) ? resourceArgs(args) : [];
      const { base: preBase, adapters: preAdapters } = await classify(ctx, resources);
      // The workspace's models are parsed in the worker while the first picker is already shown.
      const open = ctx.registry.all().map((d) => d.path);
      const models = probeWorkspace(open);
      models.catch(() => undefined); // a failure is shown inside the pickers
      const active = ctx.registry.active;
      // Adapters first when the base is not known yet, so that the base picker can offer the one beside them first.
      const adapterPaths = preAdapters.length ? preAdapters : await pickAdapters(models, preBase ?? activeBase(active));
      if (!adapterPaths?.length) return;
      const ownResults = preBase ? [] : (await results().current().catch(() => ({ ours: [] }))).ours.map((e) => e.path);
      const base = preBase ?? (await pickBase(models, { adapters: adapterPaths, active: active?.path, open, ownResults }));
      if (!base) {
        log().info('merge LoRA: no base chosen; nothing merged');
        return;
      }
      const adapters = await askWeights(adapterPaths);
      if (!adapters) return;
      const matching = { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('ModelFuse: matching adapter keys') };
      let plan = await vscode.window.withProgress(matching, () => workerRequest('lora/plan', { base, adapters }));
      logPlan(plan);
      // A shared base weight: the user decides what merging into it means, and the plan is made again with that.
      const shared = await chooseSharedPolicy(plan);
      if (shared === undefined) return;
      const options = shared === 'untie' || shared === 'all' ? { shared } : undefined;
      if (options) {
        log().info(`merge LoRA: shared weights: ${shared}`);
        plan = await vscode.window.withProgress(matching, () => workerRequest('lora/plan', { base, adapters, plan: options }));
        logPlan(plan);
      }
      const output = outputFor(base, currentSettings().mergedName);
      // Unmatched modules or a plan that cannot merge: the user pairs them in the mapping editor, which continues the merge.
      const needsMapping = plan.unmatched.length > 0 || plan.errors.length > 0 || plan.pairs.length === 0;
      const step = needsMapping ? 'edit' : await confirmPlan(plan, output.path);
      if (!step) return;
      let map: string | undefined;
      if (step === 'edit') {
        const edited = await editMapping(ctx.extensionUri, base, adapters, options);
        if (!edited) {
          void vscode.window.showInformationMessage(`Merge LoRA: the key mapping was closed without saving, so nothing was merged into ${path.basename(base)}.`);
          return;
        }
        // "Save mapping and merge" is the confirmation.
        map = edited.map;
        plan = edited.plan;
        logPlan(plan);
      }
      await merge(base, adapters, output, plan, map);
    }),
  );
}

/** The active document when it can be a base (ONNX, or safetensors without LoRA tensors): the anchor for pre-checking adapters beside it. */
function activeBase(doc: ModelDocument | undefined): string | undefined {
  const o = doc?.overview;
  if (!doc || !o) return undefined;
  return o.kind === 'onnx' || o.loraAdapter === null ? doc.path : undefined;
}

/** Sorts the resources the command was invoked on into base and adapters. */
async function classify(ctx: CommandContext, resources: UriLike[]): Promise<{ base: string | undefined; adapters: string[] }> {
  let base: string | undefined;
  const adapters: string[] = [];
  for (const r of resources) {
    if (r.scheme !== 'file') throw new ModelFuseError(vscode.l10n.t('{0}: ModelFuse merges local files only', r.fsPath));
    const stat = fs.statSync(r.fsPath, { throwIfNoEntry: false });
    if (!stat) throw new ModelFuseError(vscode.l10n.t('{0}: file not found', r.fsPath));
    let holdsLora: boolean | undefined;
    if (!stat.isDirectory() && r.fsPath.toLowerCase().endsWith('.safetensors')) {
      const open = ctx.registry.find(vscode.Uri.file(r.fsPath))?.overview;
      const overview = open ?? (await workerRequest('model/overview', { path: r.fsPath }));
      holdsLora = overview.kind === 'safetensors' && overview.loraAdapter !== null;
    }
    const role = roleOf(r, stat.isDirectory(), holdsLora);
    if (role === 'unsupported') throw new ModelFuseError(vscode.l10n.t('{0}: not a model or adapter (expected .onnx, .safetensors or a PEFT adapter folder)', r.fsPath));
    if (role === 'adapter') adapters.push(r.fsPath);
    else if (base) throw new ModelFuseError(vscode.l10n.t('{0}: two bases selected ({1} and {2}); select one base', r.fsPath, path.basename(base), path.basename(r.fsPath)));
    else base = r.fsPath;
  }
  // Invoked on adapters only: the base is asked for (pickBase offers the one beside them first).
  return { base, adapters };
}

async function askWeights(paths: string[]): Promise<LoraAdapterArg[] | undefined> {
  const out: LoraAdapterArg[] = [];
  for (const p of paths) {
    const text = await vscode.window.showInputBox({
      title: vscode.l10n.t('Merge LoRA: weight of {0}', adapterLabel(p)),
      prompt: vscode.l10n.t('Multiplies the adapter’s delta (1 = as trained; 0.5 = half strength; negative values subtract it)'),
      value: '1',
      ignoreFocusOut: true, // a step of the merge (see pickAdapters)
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
  log().info(`lora plan for ${plan.base} (${plan.base_kind}):`);
  for (const p of plan.pairs) log().info(`  ${p.module} → ${p.target} [${p.shape.join(', ')}] scale ${p.scale} (${p.evidence.map(vscodeText).join('; ')})`);
  for (const u of plan.unmatched) log().warn(`  unmatched ${u.module}: ${vscodeText(u.reason)}`);
  for (const e of plan.errors) log().error(`  ${vscodeText(e)}`);
}

/** Shows every pairing (and every unmatched module); the explicit "Merge" row goes on, "Edit the key mapping…" opens the editor. */
async function confirmPlan(plan: LoraPlanResult, output: string): Promise<'merge' | 'edit' | undefined> {
  type Row = vscode.QuickPickItem & { step?: 'merge' | 'edit' };
  const n = plan.pairs.length;
  const u = plan.unmatched.length;
  const go: Row = {
    label: `$(check) Merge ${n} module${n === 1 ? '' : 's'} → ${path.basename(output)}`,
    description: [u ? `${u} unmatched module${u === 1 ? '' : 's'} will be left out` : 'all adapter modules matched', zeroScaleNote(plan.pairs)].filter(Boolean).join(' · '),
    step: 'merge',
  };
  const edit: Row = { label: '$(edit) Edit the key mapping…', description: 'pair modules with base tensors by hand (saved as a mapping file beside the base)', step: 'edit' };
  const rows: Row[] = [go, edit, { label: 'Key mapping', kind: vscode.QuickPickItemKind.Separator }, ...planRows(plan).map((r) => ({ label: r.label, description: r.description, detail: r.detail }))];
  const qp = vscode.window.createQuickPick<Row>();
  qp.title = `Merge LoRA into ${path.basename(plan.base)}: confirm the key mapping`;
  qp.placeholder = 'Review which base tensor each adapter module changes, then choose “Merge”';
  qp.items = rows;
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  // A confirmation: it stays until answered, also when an editor (the walkthrough, a model) takes the focus.
  qp.ignoreFocusOut = true;
  return new Promise<'merge' | 'edit' | undefined>((resolve) => {
    let step: 'merge' | 'edit' | undefined;
    qp.onDidAccept(() => {
      step = qp.selectedItems[0]?.step;
      if (step) qp.hide();
    });
    qp.onDidHide(() => {
      resolve(step);
      qp.dispose();
    });
    qp.show();
  });
}

async function merge(
  base: string,
  adapters: LoraAdapterArg[],
  target: { path: string; replaces: boolean },
  plan: LoraPlanResult,
  map: string | undefined,
): Promise<void> {
  const settings = currentSettings();
  const output = target.path;
  log().info(`merge ${adapters.map((a) => `${a.path}=${a.weight}`).join(', ')} into ${base} → ${output}${map ? ` with the key mapping ${map}` : ''}`);
  const outcome = await withProgressNotification(
    `ModelFuse: merging LoRA into ${path.basename(base)}`,
    async (progress, token): Promise<ModelChangeOutcome> => {
      const mergeResult = await workerRequest('lora/merge', { base, adapters, map, output, replace: target.replaces, allowUnmatched: plan.unmatched.length > 0, planned: plan.planned }, { token, onProgress: progressBar(progress) });
      await recordResult({ path: mergeResult.output, kind: 'merge', source: base, files: mergeResult.files });
      for (const m of mergeResult.merged) log().info(`  ${m.key} → ${m.target}: ‖ΔW‖ ${m.delta_fro.toExponential(3)}, ‖ΔW‖/‖W‖ ${m.rel_change.toExponential(3)}`);
      log().info(`  wrote ${mergeResult.files.join(', ')}`);
      let verification: VerifyReport | null = null;
      if (settings.verifyAfterFuse && plan.base_kind === 'onnx') {
        progress.report({ message: 'comparing outputs with the base in ONNX Runtime' });
        try {
          verification = await workerRequest('verify/run', { modelA: base, modelB: mergeResult.output, atol: settings.atol, rtol: settings.rtol, runs: 0 }, { token });
        } catch (err) {
          log().warn(`  comparison with the base did not complete: ${messageOf(err)}`);
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
