/** The current settings from VS Code; invalid values are reported once per distinct problem and replaced by defaults. */
import * as vscode from 'vscode';
import { readSettings, type Settings } from './settings';
import { log } from './log';

const reported = new Set<string>();

export function currentSettings(): Settings {
  const config = vscode.workspace.getConfiguration('modelfuse');
  const { settings, problems } = readSettings((key) => config.get(key));
  for (const p of problems) {
    if (reported.has(p)) continue;
    reported.add(p);
    log().warn(`settings: ${p}`);
    void vscode.window.showWarningMessage(vscode.l10n.t('ModelFuse setting ignored — {0}', p));
  }
  return settings;
}
