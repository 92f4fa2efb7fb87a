// The gallery manifest: localised strings resolve, the walkthrough's steps link to commands the
// extension registers and show images that exist and are packaged, the icon is a 128×128 PNG,
// ModelFuse runs where the files are (extensionKind), and the files a gallery shows exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
const manifestText = fs.readFileSync(path.join(root, 'package.json'), 'utf8');
const manifest = JSON.parse(manifestText);
const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(root, 'package.nls.json'), 'utf8'));
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

/** Every `%key%` placeholder in the manifest. */
function placeholders(): string[] {
  return [...manifestText.matchAll(/"%([^%"]+)%"/g)].map((m) => m[1]);
}

test('every %key% of package.json is in package.nls.json, and package.nls.json has no unused key', () => {
  const used = new Set(placeholders());
  assert.ok(used.size > 40, `only ${used.size} localised strings`);
  for (const k of used) assert.ok(k in nls, `package.nls.json lacks ${k}`);
  for (const k of Object.keys(nls)) assert.ok(used.has(k), `package.nls.json has unused key ${k}`);
});

test('user-visible manifest strings are all localised (titles, names, descriptions)', () => {
  const c = manifest.contributes;
  const visible = [
    manifest.displayName,
    manifest.description,
    ...c.commands.flatMap((x: { title: string; category?: string }) => [x.title, x.category ?? '%']),
    ...c.views.modelfuse.map((v: { name: string }) => v.name),
    ...Object.values(c.configuration.properties).map((p) => (p as { markdownDescription: string }).markdownDescription),
    ...c.walkthroughs.flatMap((w: { title: string; description: string; steps: { title: string; description: string }[] }) => [
      w.title,
      w.description,
      ...w.steps.flatMap((s) => [s.title, s.description]),
    ]),
  ];
  for (const s of visible) assert.match(String(s), /^%[^%]+%$/, `not localised: ${s}`);
});

test('gallery fields: icon 128×128 PNG, repository, bugs, homepage, keywords, banner, LICENSE and CHANGELOG', () => {
  const png = fs.readFileSync(path.join(root, manifest.icon));
  assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
  assert.match(manifest.repository.url, /^https:\/\//);
  assert.match(manifest.bugs.url, /^https:\/\//);
  assert.match(manifest.homepage, /^https:\/\//);
  assert.ok(manifest.keywords.length >= 5 && manifest.keywords.length <= 30);
  assert.match(manifest.galleryBanner.color, /^#[0-9a-f]{6}$/i);
  assert.ok(['dark', 'light'].includes(manifest.galleryBanner.theme));
  assert.match(read('LICENSE'), /^MIT License/);
  assert.equal(manifest.license, 'MIT');
  assert.match(read('CHANGELOG.md'), /Keep a Changelog[\s\S]*## \[Unreleased\][\s\S]*## \[0\.1\.0\]/);
});

test('ModelFuse runs on the workspace side (the worker and ONNX Runtime go where the files are)', () => {
  assert.deepEqual(manifest.extensionKind, ['workspace']);
});

test('the walkthrough: five steps, each with a command link to a registered command and a packaged image', () => {
  const [walkthrough] = manifest.contributes.walkthroughs;
  assert.equal(`${manifest.publisher}.${manifest.name}#${walkthrough.id}`, 'modelfuse.modelfuse#gettingStarted');
  assert.match(read('extension/walkthrough/registerWalkthrough.ts'), /WALKTHROUGH_ID = 'modelfuse\.modelfuse#gettingStarted'/);
  assert.equal(walkthrough.steps.length, 5);
  const contributed = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
  const registered = read('extension/walkthrough/registerWalkthrough.ts');
  const ignore = read('.vscodeignore');
  for (const step of walkthrough.steps) {
    const description = nls[step.description.slice(1, -1)];
    const links = [...description.matchAll(/\]\(command:([\w.]+)\)/g)].map((m) => m[1]);
    assert.equal(links.length, 1, `step ${step.id} has ${links.length} command links`);
    assert.ok(contributed.has(links[0]), `${links[0]} is not in contributes.commands`);
    assert.ok(registered.includes(`'${links[0]}'`), `${links[0]} is not registered`);
    assert.ok(fs.existsSync(path.join(root, step.media.image)), `${step.media.image} is missing`);
    assert.ok(ignore.includes(`!${path.dirname(step.media.image)}/**`), `${step.media.image} would not be packaged`);
    assert.ok(nls[step.media.altText.slice(1, -1)], `step ${step.id} has no alt text`);
    assert.ok(step.completionEvents.length > 0, `step ${step.id} never completes`);
  }
});
