/**
 * Loads web-tree-sitter and the Python grammar (both WebAssembly) once per
 * process. The .wasm files are found next to the running bundle (`dist/`,
 * where the build copies them) or, when running from sources (tests, tsx),
 * in node_modules. Initialisation is async; parsing afterwards is synchronous
 * and fast (a few ms for a model file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Language as LanguageType, Node as SyntaxNode, Parser as ParserType, Tree } from 'web-tree-sitter';
import { ModelFuseError } from '../errors';

type Parser = ParserType;

/**
 * require(), not import: it selects the package's CommonJS build, which esbuild can bundle
 * (the ESM build reads import.meta.url, which is empty in a CommonJS bundle). Called on first
 * parse, so activating the extension does not evaluate tree-sitter's runtime.
 */
function webTreeSitter(): { Language: typeof LanguageType; Parser: typeof ParserType } {
  return require('web-tree-sitter') as { Language: typeof LanguageType; Parser: typeof ParserType };
}

export type { SyntaxNode, Tree };

export const RUNTIME_WASM = 'tree-sitter.wasm';
export const PYTHON_WASM = 'tree-sitter-python.wasm';

/**
 * Where a wasm file is: `dir` when given, else next to this code (the bundle
 * in dist/), else in its npm package. Throws one clear error naming every
 * place it looked, because a missing grammar otherwise surfaces as an
 * obscure emscripten abort.
 */
export function locateWasm(file: string, packageName: string, dir?: string): string {
  const tried: string[] = [];
  const candidates = dir ? [path.join(dir, file)] : [path.join(__dirname, file), path.join(__dirname, 'wasm', file)];
  if (!dir) {
    try {
      candidates.push(path.join(path.dirname(require.resolve(`${packageName}/package.json`)), file));
    } catch {
      // web-tree-sitter's exports map hides package.json; fall back to the package entry point.
      try {
        candidates.push(path.join(path.dirname(require.resolve(packageName)), file));
      } catch {
        /* not installed: only the bundle copy can work */
      }
    }
  }
  for (const c of candidates) {
    tried.push(c);
    if (fs.existsSync(c)) return c;
  }
  throw new ModelFuseError(`cannot find ${file} (looked in ${tried.join(', ')}); the extension package is incomplete`);
}

let parserPromise: Promise<Parser> | undefined;

/** The shared Python parser (created on first call; later calls reuse it). */
export function pythonParser(wasmDir?: string): Promise<Parser> {
  parserPromise ??= createParser(wasmDir).catch((err: unknown) => {
    parserPromise = undefined; // let a later call retry (e.g. after the files appear)
    throw err;
  });
  return parserPromise;
}

async function createParser(wasmDir?: string): Promise<Parser> {
  const runtime = locateWasm(RUNTIME_WASM, 'web-tree-sitter', wasmDir);
  const grammar = locateWasm(PYTHON_WASM, 'tree-sitter-python', wasmDir);
  const { Language, Parser } = webTreeSitter();
  await Parser.init({ locateFile: () => runtime });
  const language = await Language.load(fs.readFileSync(grammar));
  const parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

/** Parses Python source; the caller must `delete()` the tree when done (it lives in wasm memory). */
export async function parsePython(source: string, wasmDir?: string): Promise<Tree> {
  const parser = await pythonParser(wasmDir);
  const tree = parser.parse(source);
  if (!tree) throw new ModelFuseError('tree-sitter could not parse the Python source');
  return tree;
}

/** Named children without the nulls web-tree-sitter's typings allow. */
export function named(node: SyntaxNode): SyntaxNode[] {
  return node.namedChildren.filter((c): c is SyntaxNode => c !== null);
}

export function field(node: SyntaxNode, name: string): SyntaxNode | null {
  return node.childForFieldName(name);
}
