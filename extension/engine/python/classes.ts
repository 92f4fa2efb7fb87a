/**
 * Finds the nn.Module subclasses of a file (and of the workspace files it
 * imports from) and the submodules each one creates in `__init__`; the
 * reading of `__init__` itself is in initReader.ts.
 */
import { readInit } from './initReader';
import { dottedName, type NameScope } from './names';
import { field, named, type SyntaxNode } from './treeSitter';

export interface ModuleDecl {
  /** Attribute path relative to the class, as fuse_modules wants it: `conv1`, `features.0`. */
  path: string;
  /** torch.nn class name (`Conv2d`), the local or torchvision.ops class name, or null when unknown (a parameter, a factory call). */
  className: string | null;
  origin: 'torch.nn' | 'local' | 'library' | 'unknown';
  /** 0-based line of the constructor expression. */
  line: number;
  /**
   * Children in call order for an nn.Sequential (or a library block) whose contents are known;
   * a null entry stands for modules without a static index (added in a loop or under a
   * condition); null when nothing is known.
   */
  children?: (string | null)[] | null;
  /** Why an unknown module is unknown, in the user's words (said when forward calls it). */
  unknownWhy?: string;
  /** Set when the module exists only under a condition `__init__` tests: fuse_model() tests it first. */
  guard?: ModuleGuard;
  /** For `nn.Sequential(self.conv, ...)`: the path of the module this child is the same object as. */
  aliasOf?: string;
  /** When the class came from a constructor argument's default (`norm_layer=None` → `nn.BatchNorm2d`). */
  assumption?: string;
}

/**
 * A runtime test a generated fuse_model() makes before fusing: the module at `path` exists
 * (`__init__` creates it under an `if`), or, with `length`, the nn.Sequential there has that many
 * children (`__init__` builds it differently per branch).
 */
export interface ModuleGuard {
  path: string;
  length?: number;
}

export interface PyClass {
  name: string;
  node: SyntaxNode;
  /** Names of the bases as written (`nn.Module`, `BasicBlock`). */
  bases: string[];
  /** Methods, own ones overriding those inherited from classes of the same file. */
  methods: Map<string, SyntaxNode>;
  /** Direct base is nn.Sequential (or a local Sequential subclass): forward is implicit. */
  isSequential: boolean;
  decls: Map<string, ModuleDecl>;
  /** What `__init__` does that the analysis could not follow (said when the class gets no group). */
  notes: PyNote[];
  /** Defined in an imported workspace file, not in the file analysed. */
  imported: boolean;
  /** The name bindings of the file that defines the class. */
  scope: NameScope;
}

export interface PyNote {
  /** 0-based line. */
  line: number;
  /** What it is about (`self.layer1`), when a module; same notes about several modules are merged. */
  subject?: string;
  text: string;
}

/** Merges notes that say the same thing at the same line about different modules; sorts by line. */
export function mergeNotes(notes: readonly PyNote[]): PyNote[] {
  const byKey = new Map<string, PyNote>();
  for (const n of notes) {
    const key = `${n.line}\u0000${n.text}`;
    const before = byKey.get(key);
    if (!before) byKey.set(key, { ...n });
    else if (n.subject && !(before.subject ?? '').split(', ').includes(n.subject)) before.subject = before.subject ? `${before.subject}, ${n.subject}` : n.subject;
  }
  return [...byKey.values()].sort((a, b) => a.line - b.line);
}

/** A note as one sentence: `self.layer1, self.layer2: …`. */
export function noteText(n: PyNote): string {
  return n.subject ? `${n.subject}: ${n.text}` : n.text;
}

/** A function definition with the names of the file it is defined in. */
export interface PyFunction {
  node: SyntaxNode;
  scope: NameScope;
}

/** Definitions of a workspace file this file imports from, by the names this file uses. */
export interface ImportedDefinitions {
  scope: NameScope;
  classes: Map<string, SyntaxNode>;
  functions: Map<string, SyntaxNode>;
}

/** Every nn.Module subclass in the file (including nested ones), in source order. */
export function findModuleClasses(root: SyntaxNode, scope: NameScope, imports: readonly ImportedDefinitions[] = []): PyClass[] {
  const defs = root.descendantsOfType('class_definition').filter((n): n is SyntaxNode => n !== null);
  const byName = new Map<string, SyntaxNode>();
  const scopeOf = new Map<SyntaxNode, NameScope>();
  const functions = new Map<string, PyFunction>();
  for (const imp of imports) {
    for (const [n, d] of imp.classes) {
      byName.set(n, d);
      scopeOf.set(d, imp.scope);
    }
    for (const [n, d] of imp.functions) functions.set(n, { node: d, scope: imp.scope });
  }
  // The file's own definitions win over imported ones of the same name.
  for (const d of defs) {
    const n = field(d, 'name')?.text;
    if (n) byName.set(n, d);
    scopeOf.set(d, scope);
  }
  for (const d of topLevelFunctions(root)) functions.set(field(d, 'name')!.text, { node: d, scope });
  const ownDefs = new Set(defs);
  const kindCache = new Map<string, 'module' | 'sequential' | null>();
  const kindOf = (name: string, seen: Set<string>): 'module' | 'sequential' | null => {
    if (kindCache.has(name)) return kindCache.get(name)!;
    const def = byName.get(name);
    if (!def || seen.has(name)) return null;
    seen.add(name);
    let kind: 'module' | 'sequential' | null = null;
    for (const base of basesOf(def)) {
      const cls = (scopeOf.get(def) ?? scope).torchNnClass(base);
      const k = cls === 'Sequential' ? 'sequential' : cls === 'Module' ? 'module' : byName.has(base) ? kindOf(base, seen) : null;
      if (k === 'sequential' || (k === 'module' && kind === null)) kind = k;
    }
    kindCache.set(name, kind);
    return kind;
  };

  const built = new Map<string, PyClass>();
  const build = (name: string, def: SyntaxNode, stack: string[]): PyClass => {
    const done = built.get(name);
    if (done) return done;
    const kind = kindOf(name, new Set());
    const cls: PyClass = {
      name,
      node: def,
      bases: basesOf(def),
      methods: inheritedMethods(name, byName, new Set()),
      isSequential: kind === 'sequential',
      decls: new Map(),
      notes: [],
      imported: !ownDefs.has(def),
      scope: scopeOf.get(def) ?? scope,
    };
    // Submodules created by same-file base classes (`super().__init__(*args)` in a subclass).
    for (const base of cls.bases) {
      const baseDef = byName.get(base);
      if (baseDef && !stack.includes(base) && kindOf(base, new Set())) {
        for (const [k, v] of build(base, baseDef, [...stack, name]).decls) cls.decls.set(k, v);
      }
    }
    const context = { isModuleClass: (n: string) => kindOf(n, new Set()) !== null, functions };
    const own = methodsOf(def).get('__init__');
    if (own) readInit(own, cls, context);
    else if (cls.decls.size === 0 && cls.methods.has('__init__')) readInit(cls.methods.get('__init__')!, cls, context);
    built.set(name, cls);
    return cls;
  };

  const classes: PyClass[] = [];
  for (const def of defs) {
    const name = field(def, 'name')?.text;
    if (name && kindOf(name, new Set())) classes.push(build(name, def, []));
  }
  // Imported classes are analysed too (their groups show inside this file's classes), never reported.
  for (const [name, def] of byName) if (!ownDefs.has(def) && kindOf(name, new Set())) classes.push(build(name, def, []));
  return classes;
}

/** `def f(...)` at module level (decorated ones too). */
export function topLevelFunctions(root: SyntaxNode): SyntaxNode[] {
  return named(root)
    .map((s) => (s.type === 'decorated_definition' ? field(s, 'definition') : s))
    .filter((s): s is SyntaxNode => s?.type === 'function_definition' && !!field(s, 'name'));
}

function basesOf(def: SyntaxNode): string[] {
  const args = field(def, 'superclasses');
  if (!args) return [];
  return named(args).map((a) => dottedName(a)).filter((s): s is string => s !== null);
}

export function methodsOf(def: SyntaxNode): Map<string, SyntaxNode> {
  const out = new Map<string, SyntaxNode>();
  const body = field(def, 'body');
  if (!body) return out;
  for (let stmt of named(body)) {
    if (stmt.type === 'decorated_definition') stmt = field(stmt, 'definition') ?? stmt;
    if (stmt.type !== 'function_definition') continue;
    const n = field(stmt, 'name')?.text;
    if (n) out.set(n, stmt);
  }
  return out;
}

/** Own methods plus those of same-file base classes (first base first, like a simple MRO). */
function inheritedMethods(name: string, byName: Map<string, SyntaxNode>, seen: Set<string>): Map<string, SyntaxNode> {
  const def = byName.get(name);
  if (!def || seen.has(name)) return new Map();
  seen.add(name);
  const out = new Map<string, SyntaxNode>();
  for (const base of [...basesOf(def)].reverse()) {
    for (const [k, v] of inheritedMethods(base, byName, seen)) out.set(k, v);
  }
  for (const [k, v] of methodsOf(def)) out.set(k, v);
  return out;
}

export function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/** The contents of a plain string literal, null for f-strings and concatenations. */
export function stringValue(node: SyntaxNode): string | null {
  const parts = named(node);
  if (parts.some((p) => p.type === 'interpolation')) return null;
  const content = parts.find((p) => p.type === 'string_content');
  return content ? content.text : '';
}

/**
 * `self.a.b` → "a.b", `self.features[0]` → "features.0", `self` → "";
 * null when the expression is not rooted at `self` through plain
 * attributes and integer subscripts.
 */
export function selfAttrPath(node: SyntaxNode): string | null {
  if (node.type === 'identifier') return node.text === 'self' ? '' : null;
  if (node.type === 'attribute') {
    const obj = field(node, 'object');
    const attr = field(node, 'attribute');
    const head = obj ? selfAttrPath(obj) : null;
    return head === null || !attr ? null : join(head, attr.text);
  }
  if (node.type === 'subscript') {
    const value = field(node, 'value');
    const sub = field(node, 'subscript');
    const head = value ? selfAttrPath(value) : null;
    if (head === null || !sub || sub.type !== 'integer' || head === '') return null;
    return join(head, sub.text);
  }
  return null;
}
