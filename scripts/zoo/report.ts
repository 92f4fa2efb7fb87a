/**
 * `npm run zoo [filter…]`: one row per export of the real-export zoo (test/fixtures/zoo): module paths
 * named right, fuse-list groups offered against PyTorch's, wrong and missing groups, shared-module
 * warnings against real reuse. Exit code 1 when any export has a wrong path, a wrong group or a wrong
 * shared-module verdict.
 */
import * as path from 'node:path';
import { analyzePythonSource } from '../../extension/engine/python/analyzePython';
import { fileImportReader } from '../../extension/engine/python/importFiles';
import { readFileSync } from 'node:fs';
import { checkExport, torchvisionSource, TORCHVISION_MODELS, VARIANTS, zooEntries, type ZooResult } from '../../test/zoo/zoo';

// `--python`: the eval-default exports again, with torchvision's own source file as the Python definition
// (Debian's python3-torchvision): the full groups are then expected.
const withPython = process.argv.includes('--python');

const rows: ZooResult[] = [];
const entries = zooEntries(process.argv.slice(2).filter((a) => a !== '--python'));
const pad = (s: string | number, n: number): string => String(s).padEnd(n);
const lpad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`${pad('model', 34)}${pad('export', 14)}${lpad('paths ok', 12)}${lpad('groups', 9)}${lpad('expected', 10)}${lpad('wrong', 7)}${lpad('missing', 9)}${lpad('false shared', 14)}${lpad('missed shared', 15)}`);
async function main(): Promise<void> {
for (const e of entries) {
  const source = withPython ? torchvisionSource(e.truth) : null;
  const python = source
    ? { file: path.basename(source), classes: (await analyzePythonSource(readFileSync(source, 'utf8'), undefined, fileImportReader(source, [path.dirname(TORCHVISION_MODELS)]))).classes }
    : undefined;
  for (const v of withPython ? (['eval-default'] as const) : VARIANTS) {
    if (withPython && !python) continue;
    const r = checkExport(e, v, { python });
    if (!r) continue;
    rows.push(r);
    const paths = `${r.pathsChecked - r.wrongPaths.length}/${r.pathsChecked}`;
    console.log(`${pad(e.key, 34)}${pad(python ? `${v}+py` : v, 14)}${lpad(paths, 12)}${lpad(r.offered.length, 9)}${lpad(r.groupsKnown ? r.expected.length : 'n/a', 10)}${lpad(r.groupsKnown ? r.wrongGroups.length : 'n/a', 7)}${lpad(r.groupsKnown ? r.missingGroups.length : 'n/a', 9)}${lpad(r.falseShared.length, 14)}${lpad(r.missedShared.length, 15)}${r.error ? `  ERROR ${r.error}` : ''}`);
    if (process.env.ZOO_DETAILS) {
      if (r.wrongPaths.length) console.log(`    wrong paths: ${r.wrongPaths.slice(0, 8).join(' ')}`);
      if (r.wrongGroups.length) console.log(`    wrong groups: ${r.wrongGroups.slice(0, 6).map((g) => `[${g.join(', ')}]`).join(' ')}`);
      if (r.missingGroups.length) console.log(`    missing groups: ${r.missingGroups.slice(0, 6).map((g) => `[${g.join(', ')}]`).join(' ')}`);
      if (r.falseShared.length) console.log(`    false shared: ${r.falseShared.slice(0, 8).join(' ')}`);
      if (r.missedShared.length) console.log(`    missed shared: ${r.missedShared.slice(0, 8).join(' ')}`);
    }
  }
}
const sum = (f: (r: ZooResult) => number): number => rows.reduce((a, r) => a + f(r), 0);
const checked = sum((r) => r.pathsChecked);
const unjudged = rows.filter((r) => !r.groupsKnown).length;
console.log(
  `\nzoo: ${entries.length} models, ${rows.length} exports${unjudged ? ` (${unjudged} without torch.fx truth: groups not judged)` : ''}; module paths right ${checked - sum((r) => r.wrongPaths.length)}/${checked}; ` +
    `groups offered ${sum((r) => r.offered.length)}, expected ${sum((r) => r.expected.length)}, wrong ${sum((r) => r.wrongGroups.length)}, missing ${sum((r) => r.missingGroups.length)}; ` +
    `false shared ${sum((r) => r.falseShared.length)}, missed shared ${sum((r) => r.missedShared.length)}; errors ${rows.filter((r) => r.error).length}`,
);
const bad = rows.some((r) => r.error || r.wrongPaths.length || r.wrongGroups.length || r.falseShared.length || r.missedShared.length);
process.exitCode = bad ? 1 : 0;
}

void main();
