// `npm run test:package`: builds every platform's .vsix once with `npm run package:all` (into a
// temporary folder) and checks each one from the outside: the target's ONNX Runtime binaries are
// exactly onnxruntime-node's files for that target, byte for byte, built for that CPU (from their
// ELF/PE/Mach-O headers); no other platform's binary; no source, test or fixture; the manifest
// pieces a gallery shows; the size (and the README's table of sizes). darwin-x64, for which
// onnxruntime-node ships no binary, is refused with the reason. Separate from `npm test` because
// packaging five targets compresses ~290 MB (about a minute or two on the 2-core machine).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binaryTarget, buildableTargets, ortFiles, ORT_BIN_DIR, TARGETS, zipData, zipDirectory } from '../../scripts/vsix.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
let outDir;
let packaged;

before(() => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-packages-'));
  packaged = spawnSync('npm', ['run', '--silent', 'package:all', '--', '--out-dir', outDir], { cwd: root, encoding: 'utf8' });
});
after(() => fs.rmSync(outDir, { recursive: true, force: true }));

test('npm run package:all succeeds, prints no vsce warning, and lists darwin-x64 as not built with the reason', () => {
  assert.equal(packaged.status, 0, packaged.stderr + packaged.stdout.slice(-3000));
  assert.doesNotMatch(packaged.stdout + packaged.stderr, /\bWARNING\b/);
  assert.match(packaged.stdout, /darwin-x64 +not built: onnxruntime-node ships no darwin-x64 binary/);
  // This machine's package was unpacked and onnxruntime-node loaded from it.
  assert.match(packaged.stdout, new RegExp(`onnxruntime-node [\\d.]+ loads from the unpacked modelfuse-${version}-${process.platform}-${process.arch}\\.vsix`));
});

const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

for (const target of buildableTargets()) {
  test(`${target}: its own ONNX Runtime binaries only, no sources, tests or fixtures, size as in the README`, (t) => {
    const file = path.join(outDir, `modelfuse-${version}-${target}.vsix`);
    assert.ok(fs.existsSync(file), `${file} was not written`);
    const buf = fs.readFileSync(file);
    const entries = zipDirectory(buf, file);
    const names = entries.map((e) => e.name);

    // Exactly onnxruntime-node's files for this target (less byte-identical copies), unchanged, built for this target's CPU.
    const { dir: ortDir, ship, dropped } = ortFiles(root, target);
    const expected = ship.map((f) => `extension/${ORT_BIN_DIR}/${TARGETS[target]}/${f}`).sort();
    assert.ok(ship.length >= 2 && ship.length + dropped.length === fs.readdirSync(ortDir).length);
    const binding = fs.readFileSync(path.join(ortDir, 'onnxruntime_binding.node'));
    for (const d of dropped) {
      assert.ok(fs.readFileSync(path.join(ortDir, d.name)).equals(fs.readFileSync(path.join(ortDir, d.duplicateOf))));
      // The binding loads the copy that ships, never the one left out.
      assert.ok(binding.includes(Buffer.from(d.duplicateOf)) && !binding.includes(Buffer.from(d.name)), `${d.name} left out but the binding may need it`);
    }
    const shipped = names.filter((n) => n.includes('/bin/napi-v') || /\.(node|so(\.\d+)*|dylib|dll|exe)$/.test(n)).sort();
    assert.deepEqual(shipped, expected);
    assert.ok(shipped.some((n) => n.endsWith('/onnxruntime_binding.node')));
    for (const name of shipped) {
      const bytes = zipData(buf, entries.find((e) => e.name === name));
      assert.ok(bytes.equals(fs.readFileSync(path.join(ortDir, path.basename(name)))), `${name} differs from onnxruntime-node's`);
      assert.equal(binaryTarget(bytes), target, name);
    }

    for (const n of names) {
      assert.doesNotMatch(n, /^extension\/(extension|webview|test|scripts)\//, 'source, test or script file');
      assert.doesNotMatch(n, /\.(ts|map|proto)$|\/fixtures?\/|\.bench\//, 'source, map or fixture');
    }
    for (const n of ['extension/package.json', 'extension/package.nls.json', 'extension/readme.md', 'extension/changelog.md', 'extension/LICENSE.txt', 'extension/media/icon.png', 'extension/dist/extension.js', 'extension/dist/worker.js', 'extension/media/sample/model.py']) {
      assert.ok(names.includes(n), `${n} is missing`);
    }
    const vsixManifest = zipData(buf, entries.find((e) => e.name === 'extension.vsixmanifest')).toString('utf8');
    assert.match(vsixManifest, new RegExp(`TargetPlatform="${target}"`));

    // Size: ONNX Runtime (compressed) plus at most 6 MiB of everything else; the README's table is current.
    const ortCompressed = entries.filter((e) => e.name.includes('/bin/napi-v')).reduce((s, e) => s + e.compressedSize, 0);
    assert.ok(buf.length - ortCompressed < 6 * 2 ** 20, `${(buf.length - ortCompressed) / 2 ** 20} MiB besides ONNX Runtime`);
    const row = readme.match(new RegExp(`\\| ${target} \\| ([\\d.]+) MiB`));
    assert.ok(row, `the README's platform table has no ${target} row`);
    const mib = buf.length / 2 ** 20;
    t.diagnostic(`${target}: ${mib.toFixed(1)} MiB (${buf.length} bytes, ${entries.length} files)`);
    assert.ok(Math.abs(Number(row[1]) - mib) <= 0.5, `README says ${row[1]} MiB for ${target}, the package is ${mib.toFixed(1)} MiB`);
  });
}

test('darwin-x64 is refused before anything is built, with the reason, and no file is written', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-darwin-x64-'));
  try {
    const r = spawnSync(process.execPath, ['scripts/package.mjs', '--target', 'darwin-x64', '--out-dir', dir], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^package: onnxruntime-node ships no darwin-x64 binary .*it is not built\n$/);
    assert.doesNotMatch(r.stdout, /esbuild|vsce/);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown target is refused with the list of targets', () => {
  const r = spawnSync(process.execPath, ['scripts/package.mjs', '--target', 'linux-riscv64'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /'linux-riscv64' is not a target \(expected one of linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64, win32-arm64\)/);
});
