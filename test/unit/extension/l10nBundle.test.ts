import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLE_PATH, bundleText, hostSourceFiles, scanMessages } from '../../../scripts/l10nBundle';

const root = path.resolve(__dirname, '..', '..', '..');

test('l10n/bundle.l10n.json holds exactly the messages the extension host passes to l10n.t (run `npm run l10n`)', () => {
  const { bundle, problems } = scanMessages(hostSourceFiles(root), root);
  assert.deepEqual(problems, []);
  assert.ok(Object.keys(bundle).length > 0);
  assert.equal(fs.readFileSync(path.join(root, BUNDLE_PATH), 'utf8'), bundleText(bundle));
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.equal(manifest.l10n, './l10n');
});

test('the scan finds vscode.l10n.t and l10n.t with literal messages and reports computed ones', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-l10n-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'a.ts');
  fs.writeFileSync(
    file,
    [
      "import * as vscode from 'vscode';",
      "import { l10n } from 'vscode';",
      "vscode.l10n.t('Fused {0} sequences of {1}', 2, 'm.onnx');",
      'l10n.t(`Show log`);',
      "const other = { t: (s: string) => s }; other.t('not a message');",
      'vscode.l10n.t(`Fused ${2}`);',
    ].join('\n'),
  );
  const { bundle, problems } = scanMessages([file], dir);
  assert.deepEqual(bundle, { 'Fused {0} sequences of {1}': 'Fused {0} sequences of {1}', 'Show log': 'Show log' });
  assert.deepEqual(problems, ['a.ts:6: the message of l10n.t must be a string literal (use {0}, {1} for values)']);
});
