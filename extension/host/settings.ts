/**
 * The extension's settings (`contributes.configuration` in package.json),
 * read and validated in one place. `readSettings` is pure (it takes a getter)
 * so the validation is unit-tested; `currentSettings()` reads VS Code's.
 */
import { DEFAULT_FUSED_NAME, DEFAULT_MERGED_NAME, patternProblem } from './outputNaming';

export interface Settings {
  verifyAfterFuse: boolean;
  atol: number;
  rtol: number;
  fusedName: string;
  mergedName: string;
  /** ONNX Runtime intra-op threads in the worker; 0 = ONNX Runtime's default. */
  workerThreads: number;
}

export const SETTING_KEYS = {
  verifyAfterFuse: 'verify.afterFuse',
  atol: 'verify.atol',
  rtol: 'verify.rtol',
  fusedName: 'output.fusedName',
  mergedName: 'output.mergedName',
  workerThreads: 'worker.threads',
} as const;

export const DEFAULTS: Settings = {
  verifyAfterFuse: true,
  atol: 1e-4,
  rtol: 1e-3,
  fusedName: DEFAULT_FUSED_NAME,
  mergedName: DEFAULT_MERGED_NAME,
  workerThreads: 0,
};

export interface SettingsReadResult {
  settings: Settings;
  /** One line per invalid value, naming the setting; the default is used instead. */
  problems: string[];
}

export function readSettings(get: (key: string) => unknown): SettingsReadResult {
  const problems: string[] = [];
  const full = (k: string) => `modelfuse.${k}`;
  const num = (key: string, dflt: number, ok: (n: number) => boolean, rule: string): number => {
    const v = get(key);
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && Number.isFinite(v) && ok(v)) return v;
    problems.push(`${full(key)}: ${JSON.stringify(v)} is not ${rule}; using ${dflt}`);
    return dflt;
  };
  const pattern = (key: string, dflt: string): string => {
    const v = get(key);
    if (v === undefined || v === null || v === '') return dflt;
    const problem = typeof v === 'string' ? patternProblem(v) : 'it must be a string';
    if (!problem) return v as string;
    problems.push(`${full(key)}: ${problem}; using '${dflt}'`);
    return dflt;
  };
  const flag = get(SETTING_KEYS.verifyAfterFuse);
  if (flag !== undefined && flag !== null && typeof flag !== 'boolean') problems.push(`${full(SETTING_KEYS.verifyAfterFuse)}: must be true or false; using true`);
  const settings: Settings = {
    verifyAfterFuse: typeof flag === 'boolean' ? flag : DEFAULTS.verifyAfterFuse,
    atol: num(SETTING_KEYS.atol, DEFAULTS.atol, (n) => n >= 0, 'a number ≥ 0'),
    rtol: num(SETTING_KEYS.rtol, DEFAULTS.rtol, (n) => n >= 0, 'a number ≥ 0'),
    fusedName: pattern(SETTING_KEYS.fusedName, DEFAULTS.fusedName),
    mergedName: pattern(SETTING_KEYS.mergedName, DEFAULTS.mergedName),
    workerThreads: num(SETTING_KEYS.workerThreads, DEFAULTS.workerThreads, (n) => Number.isInteger(n) && n >= 0 && n <= 256, 'an integer from 0 to 256'),
  };
  return { settings, problems };
}
