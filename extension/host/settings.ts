/**
 * The extension's settings (`contributes.configuration` in package.json),
 * read and validated in one place. `readSettings` is pure (it takes a getter)
 * so the validation is unit-tested; `currentSettings()` reads VS Code's.
 */
import { DEFAULT_FUSED_NAME, DEFAULT_MERGED_NAME, patternProblem, type OnRepeat } from './outputNaming';

export interface Settings {
  verifyAfterFuse: boolean;
  atol: number;
  rtol: number;
  fusedName: string;
  mergedName: string;
  /** A result whose name exists: `newFile` writes `-2`, `-3`, …; `replace` overwrites a previous result ModelFuse wrote. */
  onRepeat: OnRepeat;
  /** ONNX Runtime intra-op threads in the worker; 0 = ONNX Runtime's default. */
  workerThreads: number;
  /** A verification still running after this many seconds is stopped (0: never). */
  verifyTimeoutSeconds: number;
  /** The worker's memory ceiling in MB (0: three quarters of the machine's memory). */
  workerMemoryLimitMb: number;
}

export const SETTING_KEYS = {
  verifyAfterFuse: 'verify.afterFuse',
  atol: 'verify.atol',
  rtol: 'verify.rtol',
  fusedName: 'output.fusedName',
  mergedName: 'output.mergedName',
  onRepeat: 'output.onRepeat',
  workerThreads: 'worker.threads',
  verifyTimeoutSeconds: 'verify.timeoutSeconds',
  workerMemoryLimitMb: 'worker.memoryLimitMB',
} as const;

export const DEFAULTS: Settings = {
  verifyAfterFuse: true,
  atol: 1e-4,
  rtol: 1e-3,
  fusedName: DEFAULT_FUSED_NAME,
  mergedName: DEFAULT_MERGED_NAME,
  onRepeat: 'newFile',
  workerThreads: 0,
  verifyTimeoutSeconds: 600,
  workerMemoryLimitMb: 0,
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
  const repeat = get(SETTING_KEYS.onRepeat);
  if (repeat !== undefined && repeat !== null && repeat !== 'newFile' && repeat !== 'replace') problems.push(`${full(SETTING_KEYS.onRepeat)}: ${JSON.stringify(repeat)} is not 'newFile' or 'replace'; using 'newFile'`);
  const flag = get(SETTING_KEYS.verifyAfterFuse);
  if (flag !== undefined && flag !== null && typeof flag !== 'boolean') problems.push(`${full(SETTING_KEYS.verifyAfterFuse)}: must be true or false; using true`);
  const settings: Settings = {
    verifyAfterFuse: typeof flag === 'boolean' ? flag : DEFAULTS.verifyAfterFuse,
    atol: num(SETTING_KEYS.atol, DEFAULTS.atol, (n) => n >= 0, 'a number ≥ 0'),
    rtol: num(SETTING_KEYS.rtol, DEFAULTS.rtol, (n) => n >= 0, 'a number ≥ 0'),
    fusedName: pattern(SETTING_KEYS.fusedName, DEFAULTS.fusedName),
    mergedName: pattern(SETTING_KEYS.mergedName, DEFAULTS.mergedName),
    onRepeat: repeat === 'replace' ? 'replace' : DEFAULTS.onRepeat,
    workerThreads: num(SETTING_KEYS.workerThreads, DEFAULTS.workerThreads, (n) => Number.isInteger(n) && n >= 0 && n <= 256, 'an integer from 0 to 256'),
    verifyTimeoutSeconds: num(SETTING_KEYS.verifyTimeoutSeconds, DEFAULTS.verifyTimeoutSeconds, (n) => n >= 0, 'a number of seconds ≥ 0'),
    workerMemoryLimitMb: num(SETTING_KEYS.workerMemoryLimitMb, DEFAULTS.workerMemoryLimitMb, (n) => n >= 0, 'a number of megabytes ≥ 0'),
  };
  return { settings, problems };
}
