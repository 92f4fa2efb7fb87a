// `npm run package [-- --target T]`: a platform-specific .vsix (default linux-x64).
//
// 1. esbuild in production mode (minified, no source maps): extension, worker, webviews.
// 2. `vsce package --target T` with .vscodeignore, whose marked line includes
//    only the target's ONNX Runtime binaries (onnxruntime-node ships all five
//    platforms: ~290 MB; one is ~46 MB uncompressed).
// 3. Checks the result: the target's native binding is in, no other platform's
//    is, no source or test file slipped in; when the target is this machine,
//    unpacks the .vsix and loads onnxruntime-node from it in a fresh Node
//    process (a missing file of the native module shows only at run time).
//    Prints the size.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** vsce target → onnxruntime-node's bin/napi-v6/<platform>/<arch> folder. */
const ORT_FOLDERS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

const args = process.argv.slice(2);
const ti = args.indexOf('--target');
const target = ti >= 0 ? args[ti + 1] : 'linux-x64';
if (!(target in ORT_FOLDERS)) {
  console.error(`package: onnxruntime-node 1.30 ships binaries for ${Object.keys(ORT_FOLDERS).join(', ')}; '${target}' has none`);
  process.exit(2);
}
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const binDir = 'node_modules/onnxruntime-node/bin/napi-v6';
const mine = ORT_FOLDERS[target];
if (!fs.existsSync(path.join(binDir, mine, 'onnxruntime_binding.node'))) {
  console.error(`package: ${binDir}/${mine}/onnxruntime_binding.node is missing (run npm ci)`);
  process.exit(2);
}

function run(cmd, cmdArgs) {
  console.log(`$ ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run(process.execPath, ['esbuild.config.mjs', '--production']);
// Source maps of an earlier development build would otherwise sit beside the minified bundles.
for (const f of fs.readdirSync('dist', { recursive: true })) if (String(f).endsWith('.map')) fs.rmSync(path.join('dist', String(f)));

const others = Object.values(ORT_FOLDERS).filter((f) => f !== mine);
const MARKER = /^(# ORT_TARGET_BINARIES.*\n)!node_modules\/onnxruntime-node\/bin\/napi-v6\/[a-z0-9]+\/[a-z0-9]+\/\*\*$/m;
const ignoreText = fs.readFileSync('.vscodeignore', 'utf8');
if (!MARKER.test(ignoreText)) {
  console.error('package: .vscodeignore has lost its "# ORT_TARGET_BINARIES" line; cannot select the target binaries');
  process.exit(2);
}
// vsce gives `!` patterns precedence over exclusions, so the target is chosen by the one include line.
const ignoreFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-package-')), '.vscodeignore');
fs.writeFileSync(ignoreFile, ignoreText.replace(MARKER, `$1!${binDir}/${mine}/**`));

const out = `${pkg.name}-${pkg.version}-${target}.vsix`;
const vsce = path.join('node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
run(vsce, ['package', '--target', target, '--ignoreFile', ignoreFile, '--out', out, '--no-yarn', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links']);
fs.rmSync(path.dirname(ignoreFile), { recursive: true, force: true });

const entries = zipEntries(fs.readFileSync(out));
const problems = [];
if (!entries.includes(`extension/${binDir}/${mine}/onnxruntime_binding.node`)) problems.push(`the ${target} ONNX Runtime binding is missing`);
for (const o of others) if (entries.some((e) => e.startsWith(`extension/${binDir}/${o}/`))) problems.push(`binaries of ${o} are included`);
for (const e of entries) if (/^extension\/(extension\/|test\/|webview\/|scripts\/)|\.ts$|\.map$/.test(e)) problems.push(`unexpected file ${e}`);
for (const need of ['extension/dist/extension.js', 'extension/dist/worker.js', 'extension/dist/webview/overview.js', 'extension/media/overview.css']) {
  if (!entries.includes(need)) problems.push(`${need} is missing`);
}
if (problems.length) {
  console.error(`package: ${out} is wrong:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
if (target === `${process.platform}-${process.arch}`) loadsOnnxRuntime(out);
const size = fs.statSync(out).size;
console.log(`\n${out}: ${(size / 2 ** 20).toFixed(1)} MiB (${size} bytes), ${entries.length} files`);

/** Unpacks the .vsix into a temporary folder and requires onnxruntime-node from it, as the worker will. */
function loadsOnnxRuntime(vsix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-vsix-'));
  try {
    const buf = fs.readFileSync(vsix);
    for (const e of zipDirectory(buf)) {
      if (e.name.endsWith('/')) continue;
      const dest = path.join(dir, e.name);
      if (!dest.startsWith(dir + path.sep)) throw new Error(`${vsix}: entry ${e.name} escapes the folder`);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, zipData(buf, e));
    }
    const ortPath = path.join(dir, 'extension', 'node_modules', 'onnxruntime-node');
    const probe = `const ort = require(${JSON.stringify(ortPath)}); process.stdout.write(String(ort.env.versions.node ?? ort.env.versions.common));`;
    const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(`package: onnxruntime-node does not load from ${vsix}:\n${r.stderr}`);
      process.exit(1);
    }
    console.log(`onnxruntime-node ${r.stdout} loads from the unpacked .vsix`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function zipData(buf, e) {
  // Local header: 30 bytes + name + extra, then the data (sizes from the central directory).
  const start = e.localOffset + 30 + buf.readUInt16LE(e.localOffset + 26) + buf.readUInt16LE(e.localOffset + 28);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return inflateRawSync(raw);
  throw new Error(`${e.name}: unsupported zip compression method ${e.method}`);
}

/** File names in a zip, from its central directory (the .vsix format). */
function zipEntries(buf) {
  return zipDirectory(buf).map((e) => e.name);
}

function zipDirectory(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${out}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${out}: corrupt central directory`);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    entries.push({
      name: buf.toString('utf8', p + 46, p + 46 + nameLen),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      localOffset: buf.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
