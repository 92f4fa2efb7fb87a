/**
 * The extension's ResultLedger (resultLedger.ts), kept in the workspace's
 * state: where fuse and merge write (honouring `modelfuse.output.onRepeat`)
 * and what they wrote.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { ResultLedger, type ResultEntry } from './resultLedger';
import { chooseOutputPath } from './outputNaming';
import { currentSettings } from './config';
import { log } from './log';

const STATE_KEY = 'modelfuse.results';
let ledger: ResultLedger | undefined;

export function initResults(context: vscode.ExtensionContext): void {
  ledger = new ResultLedger(
    { read: () => context.workspaceState.get(STATE_KEY), write: (entries) => context.workspaceState.update(STATE_KEY, entries) },
    (p) => {
      const s = fs.statSync(p, { throwIfNoEntry: false });
      return s?.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
    },
  );
}

export function results(): ResultLedger {
  if (!ledger) throw new Error('ModelFuse results ledger used before activation');
  return ledger;
}

/** The output path for a result of `input` named by `pattern`, and whether it replaces a previous result of ours. */
export function outputFor(input: string, pattern: string): { path: string; replaces: boolean } {
  const choice = chooseOutputPath(input, pattern, currentSettings().onRepeat, fs.existsSync, (p) => results().isOurs(p));
  if (choice.replaces) log().info(`modelfuse.output.onRepeat is 'replace': ${choice.path} (written by ModelFuse earlier) is replaced`);
  return choice;
}

/** Remembers a result just written; a failure to remember is logged, never fatal (the file is written). */
export async function recordResult(entry: { path: string; kind: ResultEntry['kind']; source: string; files: readonly string[] }): Promise<void> {
  try {
    await results().record(entry);
  } catch (err) {
    log().warn(`could not remember ${entry.path} as a ModelFuse result: ${err instanceof Error ? err.message : String(err)}`);
  }
}
