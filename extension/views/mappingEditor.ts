/**
 * The LoRA key-mapping editor: a webview table of adapter module → base
 * tensor, opened by "Merge LoRA Adapter…" when modules are unmatched (or the
 * plan has errors) or on request. Each row shows the evidence (or why it did
 * not match) and offers the base tensors whose shape fits. "Save mapping and
 * merge" writes the mapping file (the CLI's format, beside the base), checks
 * the plan with it in the worker, and hands it back to the merge; problems
 * keep the editor open with the reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultMappingPath, writeMappingFile } from '../engine/lora/mappingFile';
import type { LoraAdapterArg, LoraMappingTableResult, LoraPlanResult } from '../protocol/extensionMethods';
import type { MappingHostSpec, MappingState, MappingWebviewSpec } from '../protocol/mappingWebviewProtocol';
import { WebviewHost } from '../host/webviewHost';
import { workerRequest } from '../host/workerHost';
import { errorLine } from '../host/notify';
import { vscodeText } from '../host/remedyText';
import type { Phrase } from '../engine/remedy';
import type { PlanOptions } from '../engine/lora/plan';
import { log, showLog } from '../host/log';
import { adapterLabel } from '../commands/loraArgs';

const VIEW_TYPE = 'modelfuse.loraMapping';

export interface MappingOutcome {
  /** The saved mapping file. */
  map: string;
  /** The plan with that mapping: no errors, at least one pair. */
  plan: LoraPlanResult;
}

/** Opens the editor; resolves with the saved mapping, or undefined when the user closes it. */
export function editMapping(
  extensionUri: vscode.Uri,
  base: string,
  adapters: readonly LoraAdapterArg[],
  /** Plan options chosen before the editor opened (the shared-weight policy). */
  options?: PlanOptions,
): Promise<MappingOutcome | undefined> {
  const title = `Key mapping: ${adapters.map((a) => adapterLabel(a.path)).join(', ')} → ${path.basename(base)}`;
  const panel = vscode.window.createWebviewPanel(VIEW_TYPE, title, vscode.ViewColumn.Active, { retainContextWhenHidden: true });
  panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icons', 'modelfuse.svg');
  const host = new WebviewHost<MappingHostSpec, MappingWebviewSpec>(panel.webview, { extensionUri, bundle: 'mapping', styles: ['overview.css', 'mapping.css'], title });
  const mapFile = defaultMappingPath(base);
  let state: MappingState = { phase: 'loading', message: 'Matching adapter modules to base tensors…' };
  const setState = (s: MappingState) => {
    state = s;
    host.peer.notify('state', s);
  };
  const table = (map?: string) => workerRequest('lora/mappingTable', { base, adapters: [...adapters], map, plan: options });
  const ready = (t: LoraMappingTableResult, note: string | null, errors: readonly Phrase[]): MappingState => ({
    phase: 'ready', base, baseKind: t.plan.base_kind, adapters: adapters.map((a) => a.path), mapFile,
    rows: t.rows.map((r) => ({ ...r, evidence: r.evidence.map(vscodeText) })), errors: errors.map(vscodeText), note, busy: null,
  });

  return new Promise<MappingOutcome | undefined>((resolve) => {
    let outcome: MappingOutcome | undefined;
    host.peer.onReady(() => host.peer.notify('state', state));
    host.peer.handle('showLog', async () => showLog());
    host.peer.handle('cancel', async () => panel.dispose());
    host.peer.handle('saveAndMerge', async ({ choices }) => {
      if (state.phase !== 'ready') return;
      const shown = state;
      setState({ ...shown, busy: `Saving ${path.basename(mapFile)} and checking the mapping…`, errors: [] });
      try {
        await writeMappingFile(mapFile, choices);
        log().info(`merge LoRA: saved the key mapping to ${mapFile}`);
        const t = await table(mapFile);
        const errors: Phrase[] = [...t.plan.errors];
        if (t.plan.pairs.length === 0) errors.push('Nothing to merge: every module is left out. Choose a base tensor for at least one.');
        if (errors.length) {
          setState(ready(t, null, errors));
          return;
        }
        outcome = { map: mapFile, plan: t.plan };
        panel.dispose();
      } catch (err) {
        setState({ ...shown, busy: null, errors: [errorLine('saving the key mapping', err)] });
      }
    });
    panel.onDidDispose(() => {
      host.dispose();
      resolve(outcome);
    });

    void (async () => {
      try {
        // A mapping saved earlier for this base is the starting point, if it still fits these adapters.
        if (fs.existsSync(mapFile)) {
          try {
            const t = await table(mapFile);
            setState(ready(t, `Loaded ${path.basename(mapFile)} (saved earlier).`, t.plan.errors));
            return;
          } catch (err) {
            const why = errorLine('reading the key mapping', err);
            log().warn(`merge LoRA: ${mapFile} was not used: ${why}`);
            const t = await table();
            setState(ready(t, `${path.basename(mapFile)} exists but does not fit these adapters (${why}); saving replaces it.`, t.plan.errors));
            return;
          }
        }
        const t = await table();
        setState(ready(t, null, t.plan.errors));
      } catch (err) {
        setState({ phase: 'error', message: errorLine('matching adapter keys', err) });
      }
    })();
  });
}
