#!/usr/bin/env node
// Development-time check (not run by npm test; needs Debian's python3-torchvision 0.14 and
// /usr/bin/python3 with torch): runs `py-scan` on torchvision's own model files and prints, per
// class, the groups ModelFuse offers next to the groups torchvision's quantizable version of that
// class fuses in fuse_model(). Then runs the generated fuse_model() methods on the plain models
// and prints how much the output changed.
//
//   npm run build && node scripts/compare-torchvision.mjs [--no-apply]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODELS = '/usr/lib/python3/dist-packages/torchvision/models';
const FILES = ['resnet.py', 'mobilenetv2.py', 'mobilenetv3.py', 'shufflenetv2.py', 'googlenet.py', 'inception.py'];
const PYTHON = '/usr/bin/python3';
const HELPER = new URL('./torchvision_fuse_groups.py', import.meta.url).pathname;
const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

function fail(message) {
  console.error(`compare-torchvision: ${message}`);
  process.exit(2);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

if (!existsSync(CLI)) fail('dist/cli.js is missing: run `npm run build` first');
if (!existsSync(join(MODELS, 'resnet.py'))) fail(`${MODELS} is missing: apt-get install python3-torchvision`);

const scans = Object.fromEntries(FILES.map((f) => [f, JSON.parse(run(process.execPath, [CLI, 'py-scan', '--json', join(MODELS, f)]))]));
const expected = JSON.parse(run(PYTHON, [HELPER]));

const key = (g) => g.join(' + ');
/** How ModelFuse treats one group torchvision fuses. */
function verdict(cls, exp) {
  const own = (cls?.groups ?? []).filter((g) => g.viaChild === undefined);
  const ours = new Set(own.map((g) => key(g.modules)));
  if (exp.spellings.some((s) => ours.has(key(s)))) return 'offered';
  const shorter = exp.spellings.map((s) => s.slice(0, -1)).find((s) => s.length >= 2 && ours.has(key(s)));
  if (shorter) {
    const last = exp.group[exp.group.length - 1];
    const trap = (cls.traps ?? []).find((t) => key(t.modules.slice(0, -1)) === key(shorter));
    if (trap) return `offered ${key(shorter)}; trap flagged: ${trap.modules[trap.modules.length - 1]} (${trap.reason.split(';')[0]})`;
    const expr = `self${shorter[0].split('.').map((p) => (/^-?\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')}`;
    const note = (cls.notUnderstood ?? []).find((n) => /followed by/.test(n.text) && n.text.startsWith(`${expr} +`));
    return `offered ${key(shorter)} without ${last}${note ? `: ${note.text.replace(/^.*?followed by /, 'followed by ').split(':')[0]}` : ''}`;
  }
  return 'MISSING';
}

let offered = 0;
let partial = 0;
let missing = 0;
let extra = 0;
for (const file of FILES) {
  console.log(`\n== ${file}`);
  const byName = new Map(scans[file].classes.map((c) => [c.name, c]));
  const scanned = scans[file].classes.filter((c) => c.groups.some((g) => g.viaChild === undefined)).map((c) => c.name);
  const names = [...new Set([...Object.keys(expected[file] ?? {}), ...scanned])];
  for (const name of names) {
    const cls = byName.get(name);
    const exp = expected[file]?.[name] ?? [];
    console.log(`  class ${name}`);
    for (const e of exp) {
      const v = verdict(cls, e);
      if (v === 'offered') offered++;
      else if (v === 'MISSING') missing++;
      else partial++;
      console.log(`    quantizable ${key(e.group).padEnd(40)} ${v}`);
    }
    const spelled = new Set(exp.flatMap((e) => e.spellings.map(key)));
    for (const g of (cls?.groups ?? []).filter((x) => x.viaChild === undefined)) {
      if (spelled.has(key(g.modules))) continue;
      if (exp.some((e) => e.spellings.some((s) => key(s.slice(0, -1)) === key(g.modules)))) continue; // the safe part, counted above
      extra++;
      console.log(`    ModelFuse   ${key(g.modules).padEnd(40)} EXTRA (not in the quantizable fuse_model)`);
    }
    for (const n of cls?.notUnderstood ?? []) if (!/followed by/.test(n.text)) console.log(`    note (line ${n.line}): ${n.text}`);
  }
}
console.log(`\nquantizable groups: ${offered} offered as is, ${partial} offered in part (activation not fusable or shared), ${missing} missing; ${extra} groups offered that torchvision does not fuse`);

if (!process.argv.includes('--no-apply')) {
  const dir = mkdtempSync(join(tmpdir(), 'modelfuse-tv-'));
  try {
    const file = join(dir, 'scans.json');
    writeFileSync(file, JSON.stringify(scans));
    console.log('\nthe generated fuse_model() methods, run on the plain models (eval mode, random BatchNorm statistics):');
    for (const line of run(PYTHON, [HELPER, '--apply', file]).trim().split('\n')) {
      const r = JSON.parse(line);
      console.log(`  ${r.model.padEnd(20)} fuse_model() calls ${String(r.fuseModelCalls).padStart(3)}, fused/Identity modules ${String(r.fusedOrIdentity).padStart(3)}, max |Δ| / max |y| = ${r.relativeDiff.toExponential(2)}${r.errors.length ? `, ERRORS: ${r.errors.join('; ')}` : ''}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
