/**
 * `npm run l10n`: writes l10n/bundle.l10n.json, the English bundle of every runtime message the
 * extension host shows through `vscode.l10n.t(...)` — the file a translator copies to
 * bundle.l10n.<locale>.json. Found with the TypeScript parser (not regular expressions), so a
 * message is exactly the literal the code passes. A call whose message is not a string literal
 * cannot be translated and is reported; test/unit/extension/l10nBundle.test.ts keeps the
 * committed bundle equal to the code's messages.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

export interface L10nScan {
  /** message → message, sorted (VS Code's bundle format for plain-string messages). */
  bundle: Record<string, string>;
  /** `file:line: problem` for calls whose message is not a literal. */
  problems: string[];
}

/** Every `….l10n.t(<message>, …)` / `l10n.t(…)` in the files. */
export function scanMessages(files: readonly string[], root: string): L10nScan {
  const messages = new Set<string>();
  const problems: string[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && isL10nT(node.expression)) {
        const first = node.arguments[0];
        if (first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first))) messages.add(first.text);
        else {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          problems.push(`${path.relative(root, file)}:${line + 1}: the message of l10n.t must be a string literal (use {0}, {1} for values)`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  const bundle: Record<string, string> = {};
  for (const m of [...messages].sort()) bundle[m] = m;
  return { bundle, problems };
}

function isL10nT(callee: ts.Expression): boolean {
  if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 't') return false;
  const owner = callee.expression;
  return (ts.isIdentifier(owner) && owner.text === 'l10n') || (ts.isPropertyAccessExpression(owner) && owner.name.text === 'l10n');
}

/** The extension host's sources (the engine, worker and CLI show no VS Code UI). */
export function hostSourceFiles(root: string): string[] {
  const dir = path.join(root, 'extension');
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !/^(engine|worker|cli|protocol)[\\/]/.test(f) && f !== 'cli.ts')
    .map((f) => path.join(dir, f))
    .sort();
}

export const BUNDLE_PATH = path.join('l10n', 'bundle.l10n.json');

export function bundleText(bundle: Record<string, string>): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  const root = path.resolve(__dirname, '..');
  const { bundle, problems } = scanMessages(hostSourceFiles(root), root);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  fs.mkdirSync(path.join(root, 'l10n'), { recursive: true });
  fs.writeFileSync(path.join(root, BUNDLE_PATH), bundleText(bundle));
  console.log(`${BUNDLE_PATH}: ${Object.keys(bundle).length} messages`);
}
