/**
 * A LoRA module whose base weight other nodes also read (tied weights, or identical tensors the
 * exporter stored once): merging into it would change those readers too. The CLI asks for
 * `--shared untie|all`; here the user chooses the same two policies, or to decide per module in
 * the key mapping (leaving those modules out). The plan is then made again with the choice.
 */
import * as vscode from 'vscode';
import { remedyOf, type Remedy, type SharedChoice } from '../engine/remedy';
import type { LoraPlanResult } from '../protocol/extensionMethods';

type SharedWeight = Extract<Remedy, { kind: 'shared-initializer' }>;

/** The modules the plan refused because their weight is shared. */
export function sharedWeights(plan: LoraPlanResult): SharedWeight[] {
  return plan.errors.map(remedyOf).filter((r): r is SharedWeight => r?.kind === 'shared-initializer');
}

/**
 * The policy for shared weights: a choice, 'mapping' (decide in the key mapping editor), 'none'
 * when no weight is shared, or undefined when the user dismissed the question.
 */
export async function chooseSharedPolicy(plan: LoraPlanResult): Promise<SharedChoice | 'mapping' | 'none' | undefined> {
  const shared = sharedWeights(plan);
  if (shared.length === 0) return 'none';
  const names = shared.map((s) => `'${s.module}'`).join(', ');
  type Row = vscode.QuickPickItem & { choice: SharedChoice | 'mapping' };
  const rows: Row[] = [
    {
      label: vscode.l10n.t('$(split-horizontal) Give each its own merged copy'),
      detail: vscode.l10n.t('{0} reads a new merged tensor; the other readers keep the base weight', shared.map((s) => `'${s.node}'`).join(', ')),
      choice: 'untie',
    },
    {
      label: vscode.l10n.t('$(link) Merge into the shared weight: every reader changes'),
      detail: vscode.l10n.t('For weights the model ties on purpose (an embedding shared with the output layer)'),
      choice: 'all',
    },
    {
      label: vscode.l10n.t('$(edit) Decide per module in the key mapping…'),
      detail: vscode.l10n.t('Leave the modules with a shared weight out and merge the others'),
      choice: 'mapping',
    },
  ];
  const pick = await vscode.window.showQuickPick(rows, {
    title: shared.length === 1
      ? vscode.l10n.t('Merge LoRA: {0} changes a base tensor other nodes read too (tied, or identical tensors the exporter stored once)', names)
      : vscode.l10n.t('Merge LoRA: {0} change base tensors other nodes read too (tied, or identical tensors the exporter stored once)', names),
    placeHolder: vscode.l10n.t('Merging into a shared weight changes every node that reads it'),
    ignoreFocusOut: true, // a step of the merge
  });
  return pick?.choice;
}
