/**
 * Python model-definition analysis: for each nn.Module subclass of a file,
 * the sequences PyTorch's fuse_modules can fuse (with the lines they come
 * from), the groups that look fusable but would break the model (a shared
 * module), and ready-to-insert `fuse_model()` text. Pure TypeScript over
 * tree-sitter; no vscode.
 */
import { findModuleClasses, mergeNotes, topLevelFunctions, type ImportedDefinitions, type PyClass, type PyNote } from './classes';
import { analyzeForward } from './forwardFlow';
import { fuseModelMethodText, fuseModulesCallText } from './fuseModelText';
import { NameScope } from './names';
import { findSequences, type PySequence, type PySharedModule, type PyUnsafeSequence } from './sequences';
import { field, named, parsePython, type SyntaxNode, type Tree } from './treeSitter';

export type { PySequence, PySharedModule, PyUnsafeSequence } from './sequences';
export { noteText, type PyNote } from './classes';

/**
 * Reads the source of a module a file imports from (`.blocks`, `mypkg.layers`), or
 * undefined when it is not a workspace file. Called once per imported module.
 */
export type ImportReader = (module: string) => Promise<string | undefined>;

/** At most this many imported modules are read per file. */
const MAX_IMPORTED_MODULES = 16;

export interface PyModuleSummary {
  path: string;
  className: string | null;
  /** 0-based line of its constructor in __init__. */
  line: number;
}

export interface PyClassAnalysis {
  name: string;
  /** 0-based line of `class`. */
  line: number;
  /** 0-based last line of the class. */
  endLine: number;
  bases: string[];
  modules: PyModuleSummary[];
  /** Safe groups; those of submodules whose class is in this file come with prefixed paths. */
  sequences: PySequence[];
  unsafe: PyUnsafeSequence[];
  sharedModules: PySharedModule[];
  /**
   * What the analysis could not follow or what stops a group short (a helper it cannot
   * read, a list built in a loop, nn.ReLU6 after conv+bn), by line: the "why nothing".
   */
  notes: PyNote[];
  /** Whether the class (or a same-file base) already has a fuse_model method. */
  definesFuseModel: boolean;
  /** `torch.ao.quantization.fuse_modules(model, [...], inplace=True)`, or null without sequences. */
  fuseModulesCall: string | null;
  /** The method text, indented for this class, or null without sequences. */
  fuseModelMethod: string | null;
  /** Where the method goes: right after the class's last character (0-based). Insert "\n\n" + method. */
  insertAt: { line: number; character: number };
}

export interface PythonAnalysis {
  classes: PyClassAnalysis[];
  /** True when tree-sitter recovered from syntax errors (results may miss code near them). */
  hasSyntaxErrors: boolean;
}

export async function analyzePythonSource(source: string, wasmDir?: string, readImport?: ImportReader): Promise<PythonAnalysis> {
  const tree = await parsePython(source, wasmDir);
  const importedTrees: Tree[] = [];
  try {
    const imports = readImport ? await importedDefinitions(tree.rootNode, readImport, wasmDir, importedTrees) : [];
    return analyzeTree(tree, source, imports);
  } finally {
    tree.delete();
    for (const t of importedTrees) t.delete();
  }
}

/** The classes and functions this file imports by name from workspace files (one level deep). */
async function importedDefinitions(root: SyntaxNode, readImport: ImportReader, wasmDir: string | undefined, trees: Tree[]): Promise<ImportedDefinitions[]> {
  const byModule = new Map<string, { local: string; name: string }[]>();
  for (const imp of NameScope.fromModule(root).fromImports()) {
    if (/^torch(vision)?(\.|$)/.test(imp.module)) continue;
    byModule.set(imp.module, [...(byModule.get(imp.module) ?? []), imp]);
  }
  const out: ImportedDefinitions[] = [];
  for (const [module, names] of [...byModule].slice(0, MAX_IMPORTED_MODULES)) {
    const text = await readImport(module);
    if (text === undefined) continue;
    const tree = await parsePython(text, wasmDir);
    trees.push(tree);
    const r = tree.rootNode;
    const classes = new Map<string, SyntaxNode>();
    const functions = new Map<string, SyntaxNode>();
    // Everything the file defines, by its own names (its classes refer to each other)…
    for (const c of named(r)) {
      const def = c.type === 'decorated_definition' ? field(c, 'definition') : c;
      if (def?.type === 'class_definition') classes.set(field(def, 'name')!.text, def);
    }
    for (const f of topLevelFunctions(r)) functions.set(field(f, 'name')!.text, f);
    // …and by the names this file imported them as (`from .blocks import ConvBNReLU as CBR`).
    for (const { local, name } of names) {
      if (classes.has(name)) classes.set(local, classes.get(name)!);
      if (functions.has(name)) functions.set(local, functions.get(name)!);
    }
    out.push({ scope: NameScope.fromModule(r), classes, functions });
  }
  return out;
}

export function analyzeTree(tree: Tree, source: string, imports: readonly ImportedDefinitions[] = []): PythonAnalysis {
  const root = tree.rootNode;
  const scope = NameScope.fromModule(root);
  const classes = findModuleClasses(root, scope, imports);
  const byName = new Map(classes.map((c) => [c.name, c]));
  const own = new Map<PyClass, ReturnType<typeof findSequences>>();
  for (const cls of classes) own.set(cls, findSequences(cls, analyzeForward(cls)));

  // Groups inside submodules of same-file classes, with their paths prefixed (features.0 → features.0.0).
  const nested = (cls: PyClass, stack: PyClass[]): PySequence[] => {
    if (stack.includes(cls)) return [];
    const out: PySequence[] = [...own.get(cls)!.sequences];
    for (const d of cls.decls.values()) {
      if (d.origin !== 'local' || !d.className || d.aliasOf !== undefined) continue;
      const child = byName.get(d.className);
      if (!child) continue;
      // The child itself may exist only under a condition (`if aux_logits: self.AuxLogits = …`).
      const childGuards = d.guard ? [d.guard] : [];
      for (const s of nested(child, [...stack, cls])) {
        const prefixed = (m: string) => (m ? `${d.path}.${m}` : d.path);
        const guards = [...childGuards, ...(s.guards ?? []).map((g) => ({ ...g, path: prefixed(g.path) }))];
        out.push({
          ...s,
          modules: s.modules.map(prefixed),
          viaChild: s.viaChild ? prefixed(s.viaChild) : d.path,
          ...(guards.length ? { guards } : {}),
        });
      }
    }
    return out;
  };

  const lines = source.split(/\r?\n/);
  return {
    classes: classes.filter((cls) => !cls.imported).map((cls) => {
      const { unsafe, sharedModules, notes } = own.get(cls)!;
      const sequences = nested(cls, []);
      const groups = sequences.map((s) => ({ modules: s.modules, ...(s.guards ? { guards: s.guards } : {}) }));
      const { indent, unit } = indentation(cls.node, lines);
      const end = cls.node.endPosition;
      return {
        name: cls.name,
        line: cls.node.startPosition.row,
        endLine: end.row,
        bases: cls.bases,
        modules: [...cls.decls.values()].filter((d) => d.path !== '').map((d) => ({ path: d.path, className: d.className, line: d.line })),
        sequences,
        unsafe,
        sharedModules,
        notes: mergeNotes([...cls.notes, ...notes]),
        definesFuseModel: cls.methods.has('fuse_model'),
        fuseModulesCall: groups.length ? fuseModulesCallText(groups) : null,
        fuseModelMethod: groups.length ? fuseModelMethodText(groups, { indent, unit, bindsTorch: scope.bindsTorch }) : null,
        insertAt: { line: end.row, character: end.column },
      };
    }),
    hasSyntaxErrors: root.hasError,
  };
}

/** The class body's indentation and the file's indentation unit, read from the source. */
function indentation(classNode: SyntaxNode, lines: string[]): { indent: string; unit: string } {
  const lead = (row: number) => /^[ \t]*/.exec(lines[row] ?? '')![0];
  const classIndent = lead(classNode.startPosition.row);
  const body = field(classNode, 'body');
  const first = body ? named(body).find((s) => s.type !== 'comment') : undefined;
  let indent = first && first.startPosition.row > classNode.startPosition.row ? lead(first.startPosition.row) : '';
  if (indent.length <= classIndent.length) indent = classIndent + (classIndent.includes('\t') ? '\t' : '    ');
  return { indent, unit: indent.slice(classIndent.length) };
}
