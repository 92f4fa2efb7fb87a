// `npm run package [-- --target T …] [-- --out-dir D]`: platform-specific .vsix files (default linux-x64);
// `npm run package:all`: every target onnxruntime-node ships binaries for.
//
// 1. esbuild in production mode (minified, no source maps): extension, worker, webviews — once.
// 2. Per target, `vsce package --target T` with .vscodeignore, whose marked line is swapped to
//    include only the target's ONNX Runtime binaries (onnxruntime-node ships every platform:
//    ~290 MB; one is 25–86 MB uncompressed).
// 3. Checks each result (scripts/vsix.mjs): the target's native binding is in, no other
//    platform's binary, no source/test/fixture, the required files, the rest small; when the
//    target is this machine, unpacks it and loads onnxruntime-node from it in a fresh Node
//    process (a missing file of the native module shows only at run time). A wrong package is
//    deleted, never left behind. Prints the sizes.
// A target without binaries (darwin-x64) is refused with the reason: exit 2 when asked for by
// name; listed as not built by --all.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildableTargets, mib, ortFiles, ortFolder, ORT_BIN_DIR, TARGETS, unzipInto, vsixProblems, zipDirectory } from './vsix.mjs';

const args = process.argv.slice(2);
const all = args.includes('--all');
const named = args.flatMap((a, i) => (args[i - 1] === '--target' ? [a] : []));
const outDirIndex = args.indexOf('--out-dir');
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const outDir = outDirIndex >= 0 ? path.resolve(args[outDirIndex + 1]) : root;

const targets = all ? buildableTargets() : named.length ? named : ['linux-x64'];
for (const t of targets) {
  const { problem, folder } = ortFolder(t);
  if (problem) fail(2, problem);
  if (!fs.existsSync(path.join(ORT_BIN_DIR, folder, 'onnxruntime_binding.node'))) fail(2, `${ORT_BIN_DIR}/${folder}/onnxruntime_binding.node is missing (run npm ci)`);
}

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
run(process.execPath, ['esbuild.config.mjs', '--production']);
// Source maps of an earlier development build would otherwise sit beside the minified bundles.
for (const f of fs.readdirSync('dist', { recursive: true })) if (String(f).endsWith('.map')) fs.rmSync(path.join('dist', String(f)));

const MARKER = /^(# ORT_TARGET_BINARIES.*\n)!node_modules\/onnxruntime-node\/bin\/napi-v6\/[a-z0-9]+\/[a-z0-9]+\/\*\*$/m;
const ignoreText = fs.readFileSync('.vscodeignore', 'utf8');
if (!MARKER.test(ignoreText)) fail(2, '.vscodeignore has lost its "# ORT_TARGET_BINARIES" line; cannot select the target binaries');
fs.mkdirSync(outDir, { recursive: true });

const built = [];
for (const target of targets) built.push(packageTarget(target));

console.log('\ntarget        size');
for (const b of built) console.log(`${b.target.padEnd(13)} ${mib(b.size).padStart(5)} MiB  (${b.size} bytes, ${b.files} files) ${path.relative(root, b.out)}`);
if (all) for (const t of Object.keys(TARGETS).filter((x) => !targets.includes(x))) console.log(`${t.padEnd(13)} not built: ${ortFolder(t).problem}`);

function packageTarget(target) {
  const { folder } = ortFolder(target);
  // vsce gives `!` patterns precedence over exclusions, so the target is chosen by the one include line.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-package-'));
  const ignoreFile = path.join(tmp, '.vscodeignore');
  const { ship, dropped } = ortFiles(root, target);
  for (const d of dropped) console.log(`package: leaving out ${folder}/${d.name}, a copy of ${d.duplicateOf}`);
  fs.writeFileSync(ignoreFile, ignoreText.replace(MARKER, (_, comment) => `${comment}${ship.map((f) => `!${ORT_BIN_DIR}/${folder}/${f}`).join('\n')}`));
  const out = path.join(outDir, `${pkg.name}-${pkg.version}-${target}.vsix`);
  fs.rmSync(out, { force: true });
  const vsce = path.join('node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
  try {
    // vsce's warnings (a missing repository or license, unbundled JavaScript, …) are errors here: Open VSX and the Marketplace get this file.
    const printed = run(vsce, ['package', '--target', target, '--ignoreFile', ignoreFile, '--out', out, '--no-yarn'], { capture: true });
    const warnings = printed.split('\n').filter((line) => /\bWARNING\b/.test(line));
    if (warnings.length) {
      fs.rmSync(out, { force: true });
      fail(1, `vsce warned while packaging ${target} (package deleted):\n  ${warnings.join('\n  ')}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const buf = fs.readFileSync(out);
  const entries = zipDirectory(buf, out);
  const problems = vsixProblems(buf, target, out);
  if (problems.length) {
    fs.rmSync(out, { force: true });
    fail(1, `${path.basename(out)} was wrong and is deleted:\n  ${problems.join('\n  ')}`);
  }
  if (target === `${process.platform}-${process.arch}`) loadsOnnxRuntime(buf, out);
  return { target, out, size: buf.length, files: entries.length };
}

/** Unpacks the .vsix into a temporary folder and requires onnxruntime-node from it, as the worker will. */
function loadsOnnxRuntime(buf, vsix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-vsix-'));
  try {
    unzipInto(buf, dir, vsix);
    const ortPath = path.join(dir, 'extension', 'node_modules', 'onnxruntime-node');
    const probe = `const ort = require(${JSON.stringify(ortPath)}); process.stdout.write(String(ort.env.versions.node ?? ort.env.versions.common));`;
    const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    if (r.status !== 0) {
      fs.rmSync(vsix, { force: true });
      fail(1, `onnxruntime-node does not load from ${path.basename(vsix)} (deleted):\n${r.stderr}`);
    }
    console.log(`onnxruntime-node ${r.stdout} loads from the unpacked ${path.basename(vsix)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a command, showing its output; with `capture`, also returns it (stdout and stderr). */
function run(cmd, cmdArgs, { capture = false } = {}) {
  console.log(`$ ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: capture ? 'pipe' : 'inherit', encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  if (capture) process.stdout.write(`${r.stdout}${r.stderr}`);
  if (r.status !== 0) process.exit(r.status ?? 1);
  return capture ? `${r.stdout}${r.stderr}` : '';
}

function fail(code, message) {
  console.error(`package: ${message}`);
  process.exit(code);
}
