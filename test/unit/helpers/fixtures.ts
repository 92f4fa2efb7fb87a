/** Paths to the fixtures in test/fixtures and small helpers tests share. */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';

export const FIXTURES = path.resolve(__dirname, '../../fixtures');
export const fixture = (...parts: string[]): string => path.join(FIXTURES, ...parts);

export const FUSION_CASES = ['zoo_conv_bn_relu', 'zoo_conv_bn_relu_dynamo', 'zoo_grouped', 'zoo_linear', 'zoo_resstyle'];
export const LORA_CASES = ['lora_conv', 'lora_linear_qv'];

export interface FusionCase {
  name: string;
  torch_fuse_modules_groups: string[][];
  groups_unsafe_for_fuse_modules: string[][];
  torch_fuse_modules_failed: { group: string[]; error: string }[];
  inputs: Record<string, number[]>;
  outputs: string[];
}

export function readCase<T = FusionCase>(name: string): T {
  return JSON.parse(fs.readFileSync(fixture(name, 'case.json'), 'utf8')) as T;
}

/** A fresh temporary folder, removed when the process exits. */
export function tempDir(prefix = 'modelfuse-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Max relative difference |a-b| / max(|b|, floor) over two arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor));
  return m;
}
