// What a platform-specific ModelFuse .vsix must and must not hold, and how to read one.
// Shared by scripts/package.mjs (which refuses to leave a wrong package behind) and the
// package test (test/package/), so both apply the same rules.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** onnxruntime-node keeps its prebuilt binaries here, one folder per platform/arch. */
export const ORT_BIN_DIR = 'node_modules/onnxruntime-node/bin/napi-v6';

/**
 * Every target VS Code publishes for, with onnxruntime-node's folder of binaries for it; null
 * where onnxruntime-node ships none (darwin-x64: 1.30 ships macOS arm64 only). Such a target is
 * refused: a package without a loadable ONNX Runtime would install but fail on first use.
 */
export const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-x64': null,
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

/** Files every package needs besides ONNX Runtime (bundles, stylesheets, manifest pieces, walkthrough). */
export const REQUIRED_FILES = [
  'extension/package.json',
  'extension/package.nls.json',
  'extension/l10n/bundle.l10n.json',
  // vsce stores README.md and CHANGELOG.md lower-cased and LICENSE as LICENSE.txt.
  'extension/readme.md',
  'extension/LICENSE.txt',
  'extension/changelog.md',
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/webview/overview.js',
  'extension/media/overview.css',
  'extension/media/icon.png',
  'extension/media/sample/resnet_style.onnx',
  'extension/media/sample/model.py',
  'extension/media/sample/tiny_llm_lora/base.onnx',
  'extension/media/sample/tiny_llm_lora/adapter/adapter_config.json',
];

/** Everything apart from ONNX Runtime's binaries stays below this (bundles, media, samples: ~3 MiB today). */
export const MAX_NON_ORT_BYTES = 6 * 2 ** 20;

/** Paths that must never ship: sources, tests, fixtures, scripts, source maps, build inputs. */
const FORBIDDEN = /^extension\/(extension|test|webview|scripts|\.ci|\.bench|out)\/|^extension\/(tsconfig|esbuild)[^/]*$|\.ts$|\.map$|\.proto$|\/fixtures?\//;

/** The binding and libraries of `target` as a list of folder names in onnxruntime-node, or the reason there are none. */
export function ortFolder(target) {
  if (!(target in TARGETS)) return { problem: `'${target}' is not a target (expected one of ${Object.keys(TARGETS).join(', ')})` };
  const folder = TARGETS[target];
  if (folder === null) {
    return { problem: `onnxruntime-node ships no ${target} binary (${ORT_BIN_DIR} has no ${target.replace('-', '/')} folder), so a ${target} package could not run ONNX Runtime; it is not built` };
  }
  return { folder };
}

/**
 * The files of the target's ONNX Runtime folder that ship. npm turns the macOS library's version
 * symlink (libonnxruntime.1.30.0.dylib → libonnxruntime.1.dylib) into a second 44 MB copy; the
 * binding loads `@rpath/libonnxruntime.1.dylib` only, so a file byte-identical to one with a
 * shorter name is left out (`dropped`, with the file it duplicates).
 */
export function ortFiles(root, target) {
  const dir = path.join(root, ORT_BIN_DIR, TARGETS[target]);
  const names = fs.readdirSync(dir).sort((a, b) => a.length - b.length || a.localeCompare(b));
  const ship = [];
  const dropped = [];
  for (const name of names) {
    const bytes = fs.readFileSync(path.join(dir, name));
    const same = ship.find((kept) => kept.size === bytes.length && fs.readFileSync(path.join(dir, kept.name)).equals(bytes));
    if (same) dropped.push({ name, duplicateOf: same.name });
    else ship.push({ name, size: bytes.length });
  }
  return { dir, ship: ship.map((f) => f.name).sort(), dropped };
}

/** The targets that can be built, in TARGETS order. */
export function buildableTargets() {
  return Object.keys(TARGETS).filter((t) => TARGETS[t] !== null);
}

/**
 * Checks the .vsix in `buf` for `target`: its binding present and every native binary built for
 * that target (read from the binaries' headers), no other platform's binaries, nothing from the
 * forbidden list, the required files present, the rest small. Returns the problems (empty when
 * the package is right).
 */
export function vsixProblems(buf, target, label) {
  const entries = zipDirectory(buf, label);
  const problems = [];
  const { folder, problem } = ortFolder(target);
  if (problem) return [problem];
  const names = entries.map((e) => e.name);
  const mine = `extension/${ORT_BIN_DIR}/${folder}/`;
  if (!names.includes(`${mine}onnxruntime_binding.node`)) problems.push(`the ${target} ONNX Runtime binding (${mine}onnxruntime_binding.node) is missing`);
  const foreign = names.filter((n) => isNativeBinary(n) && !n.startsWith(mine));
  for (const n of foreign) problems.push(`a binary of another platform is included: ${n}`);
  for (const e of entries.filter((x) => isNativeBinary(x.name) && x.name.startsWith(mine))) {
    const builtFor = binaryTarget(zipData(buf, e));
    if (builtFor !== target) problems.push(`${e.name} is built for ${builtFor}, not ${target}`);
  }
  for (const n of names) if (FORBIDDEN.test(n)) problems.push(`a source, test or build file is included: ${n}`);
  for (const need of REQUIRED_FILES) if (!names.includes(need)) problems.push(`${need} is missing`);
  const nonOrt = entries.filter((e) => !e.name.startsWith(`extension/${ORT_BIN_DIR}/`)).reduce((sum, e) => sum + e.compressedSize, 0);
  if (nonOrt > MAX_NON_ORT_BYTES) problems.push(`files other than ONNX Runtime's binaries take ${mib(nonOrt)} MiB compressed (limit ${mib(MAX_NON_ORT_BYTES)} MiB): something large slipped in`);
  return problems;
}

/** Native code of any platform: Node addons, shared libraries, DLLs. */
function isNativeBinary(name) {
  return /\.(node|so(\.\d+)*|dylib|dll|exe)$/.test(name) || /\/bin\/napi-v\d+\//.test(name);
}

export function mib(bytes) {
  return (bytes / 2 ** 20).toFixed(1);
}

/** The central directory of a zip (the .vsix format): name, compression method, sizes, local header offset. */
export function zipDirectory(buf, label) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${label}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${label}: corrupt central directory`);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    entries.push({
      name: buf.toString('utf8', p + 46, p + 46 + nameLen),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      localOffset: buf.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The bytes of one entry. */
export function zipData(buf, e) {
  // Local header: 30 bytes + name + extra, then the data (sizes from the central directory).
  const start = e.localOffset + 30 + buf.readUInt16LE(e.localOffset + 26) + buf.readUInt16LE(e.localOffset + 28);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return inflateRawSync(raw);
  throw new Error(`${e.name}: unsupported zip compression method ${e.method}`);
}

/** Unpacks every file of the zip in `buf` into `dir` (refusing entries that would land outside it). */
export function unzipInto(buf, dir, label) {
  for (const e of zipDirectory(buf, label)) {
    if (e.name.endsWith('/')) continue;
    const dest = path.join(dir, e.name);
    if (!dest.startsWith(dir + path.sep)) throw new Error(`${label}: entry ${e.name} escapes the folder`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, zipData(buf, e));
  }
}

/** The platform-arch (vsce target spelling) a native binary was built for, from its header: ELF, PE or Mach-O. */
export function binaryTarget(buf) {
  if (buf.length >= 20 && buf.readUInt32BE(0) === 0x7f454c46) {
    const machine = buf.readUInt16LE(18);
    return { 0x3e: 'linux-x64', 0xb7: 'linux-arm64' }[machine] ?? `linux-machine-0x${machine.toString(16)}`;
  }
  if (buf.length >= 64 && buf.toString('latin1', 0, 2) === 'MZ') {
    const pe = buf.readUInt32LE(0x3c);
    const machine = buf.readUInt16LE(pe + 4);
    return { 0x8664: 'win32-x64', 0xaa64: 'win32-arm64' }[machine] ?? `win32-machine-0x${machine.toString(16)}`;
  }
  if (buf.length >= 8 && buf.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = buf.readUInt32LE(4);
    return { 0x01000007: 'darwin-x64', 0x0100000c: 'darwin-arm64' }[cpu] ?? `darwin-cpu-0x${cpu.toString(16)}`;
  }
  return 'unknown';
}
