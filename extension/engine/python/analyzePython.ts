/**
 * Python model-definition analysis: for each nn.Module subclass of a file,
 * the sequences PyTorch's fuse_modules can fuse (with the lines they come
 * from), the groups that look fusable but would break the model (a shared
 * module), and ready-to-insert `fuse_model()` text. Pure TypeScript over
 * tree-sitter; no vscode.
 */
import { findModuleClasses, type PyClass } from './classes';
import { analyzeForward } from './forwardFlow';
import { fuseModelMethodText, fuseModulesCallText } from './fuseModelText';
import { NameScope } from './names';
import { findSequences, type PySequence, type PySharedModule, type PyUnsafeSequence } from './sequences';
import { field, named, parsePython, type SyntaxNode, type Tree } from './treeSitter';

export type { PySequence, PySharedModule, PyUnsafeSequence } from './sequences';

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

export async function analyzePythonSource(source: string, wasmDir?: string): Promise<PythonAnalysis> {
  const tree = await parsePython(source, wasmDir);
  try {
    return analyzeTree(tree, source);
  } finally {
    tree.delete();
  }
}

export function analyzeTree(tree: Tree, source: string): PythonAnalysis {
  const root = tree.rootNode;
  const scope = NameScope.fromModule(root);
  const classes = findModuleClasses(root, scope);
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
      for (const s of nested(child, [...stack, cls])) {
        out.push({ ...s, modules: s.modules.map((m) => (m ? `${d.path}.${m}` : d.path)), viaChild: s.viaChild ? `${d.path}.${s.viaChild}` : d.path });
      }
    }
    return out;
  };

  const lines = source.split(/\r?\n/);
  return {
    classes: classes.map((cls) => {
      const { unsafe, sharedModules } = own.get(cls)!;
      const sequences = nested(cls, []);
      const groups = sequences.map((s) => s.modules);
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
