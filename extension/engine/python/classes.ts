/**
 * Finds the nn.Module subclasses of a file and the submodules each one
 * creates in `__init__`: `self.conv1 = nn.Conv2d(...)`, the children of an
 * `nn.Sequential(...)` (named `features.0`, `features.1`, … like PyTorch, or
 * by the keys of an OrderedDict), `self.add_module("name", ...)`, and for an
 * `nn.Sequential` subclass the children passed to `super().__init__(...)`.
 */
import { dottedName, type NameScope } from './names';
import { field, named, type SyntaxNode } from './treeSitter';

export interface ModuleDecl {
  /** Attribute path relative to the class, as fuse_modules wants it: `conv1`, `features.0`. */
  path: string;
  /** torch.nn class name (`Conv2d`), the local class name, or null when unknown (a parameter, a factory call). */
  className: string | null;
  origin: 'torch.nn' | 'local' | 'unknown';
  /** 0-based line of the constructor expression. */
  line: number;
  /** Children in call order for an nn.Sequential whose contents are written out; null when built dynamically. */
  children?: string[] | null;
  /** For `nn.Sequential(self.conv, ...)`: the path of the module this child is the same object as. */
  aliasOf?: string;
  /** When the class came from a constructor argument's default (`norm_layer=None` → `nn.BatchNorm2d`). */
  assumption?: string;
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
}

/** Every nn.Module subclass in the file (including nested ones), in source order. */
export function findModuleClasses(root: SyntaxNode, scope: NameScope): PyClass[] {
  const defs = root.descendantsOfType('class_definition').filter((n): n is SyntaxNode => n !== null);
  const byName = new Map<string, SyntaxNode>();
  for (const d of defs) {
    const n = field(d, 'name')?.text;
    if (n) byName.set(n, d);
  }
  const kindCache = new Map<string, 'module' | 'sequential' | null>();
  const kindOf = (name: string, seen: Set<string>): 'module' | 'sequential' | null => {
    if (kindCache.has(name)) return kindCache.get(name)!;
    const def = byName.get(name);
    if (!def || seen.has(name)) return null;
    seen.add(name);
    let kind: 'module' | 'sequential' | null = null;
    for (const base of basesOf(def)) {
      const cls = scope.torchNnClass(base);
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
    const cls: PyClass = { name, node: def, bases: basesOf(def), methods: inheritedMethods(name, byName, new Set()), isSequential: kind === 'sequential', decls: new Map() };
    // Submodules created by same-file base classes (`super().__init__(*args)` in a subclass).
    for (const base of cls.bases) {
      const baseDef = byName.get(base);
      if (baseDef && !stack.includes(base) && kindOf(base, new Set())) {
        for (const [k, v] of build(base, baseDef, [...stack, name]).decls) cls.decls.set(k, v);
      }
    }
    const own = methodsOf(def).get('__init__');
    if (own) readInit(own, cls, scope, (n) => kindOf(n, new Set()) !== null);
    else if (cls.decls.size === 0 && cls.methods.has('__init__')) readInit(cls.methods.get('__init__')!, cls, scope, (n) => kindOf(n, new Set()) !== null);
    built.set(name, cls);
    return cls;
  };

  const classes: PyClass[] = [];
  for (const def of defs) {
    const name = field(def, 'name')?.text;
    if (name && kindOf(name, new Set())) classes.push(build(name, def, []));
  }
  return classes;
}

function basesOf(def: SyntaxNode): string[] {
  const args = field(def, 'superclasses');
  if (!args) return [];
  return named(args).map((a) => dottedName(a)).filter((s): s is string => s !== null);
}

function methodsOf(def: SyntaxNode): Map<string, SyntaxNode> {
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

interface LocalBinding {
  /** The dotted name the local variable holds (`nn.BatchNorm2d`). */
  dotted: string;
  /** Set when the value is only a default the caller may override. */
  assumption?: string;
}

/** Reads `__init__` in statement order, so `norm_layer = nn.BatchNorm2d` is known where it is used. */
function readInit(init: SyntaxNode, cls: PyClass, scope: NameScope, isLocalModuleClass: (n: string) => boolean): void {
  const locals = new Map<string, LocalBinding>();
  const params = new Set<string>();
  const paramsNode = field(init, 'parameters');
  for (const p of paramsNode ? named(paramsNode) : []) {
    const pname = p.type === 'identifier' ? p.text : (field(p, 'name') ?? named(p).find((c) => c.type === 'identifier'))?.text;
    if (!pname) continue;
    params.add(pname);
    const value = field(p, 'value');
    const dotted = value ? dottedName(value) : null;
    if (dotted && dotted !== 'None') locals.set(pname, { dotted, assumption: `assumes ${pname} is its default ${dotted}` });
  }

  const ctor = (expr: SyntaxNode, path: string): ModuleDecl => {
    const line = expr.startPosition.row;
    const selfRef = selfAttrPath(expr);
    if (selfRef !== null) return { path, className: null, origin: 'unknown', line, aliasOf: selfRef };
    if (expr.type !== 'call') return { path, className: null, origin: 'unknown', line };
    const callee = field(expr, 'function');
    let dotted = callee ? dottedName(callee) : null;
    let assumption: string | undefined;
    if (dotted && locals.has(dotted)) {
      const b = locals.get(dotted)!;
      assumption = b.assumption;
      dotted = b.dotted;
    }
    if (!dotted) return { path, className: null, origin: 'unknown', line };
    const torchClass = scope.torchNnClass(dotted);
    if (torchClass === 'Sequential') {
      return { path, className: 'Sequential', origin: 'torch.nn', line, children: sequentialChildren(field(expr, 'arguments'), path) };
    }
    if (torchClass) return { path, className: torchClass, origin: 'torch.nn', line, ...(assumption ? { assumption } : {}) };
    if (isLocalModuleClass(dotted)) return { path, className: dotted, origin: 'local', line };
    return { path, className: null, origin: 'unknown', line };
  };

  const sequentialChildren = (args: SyntaxNode | null, prefix: string): string[] | null => {
    if (!args) return [];
    const items = named(args).filter((a) => a.type !== 'comment');
    // nn.Sequential(OrderedDict([("conv", nn.Conv2d(...)), ...])): children named by the keys.
    if (items.length === 1 && items[0].type === 'call' && /(^|\.)OrderedDict$/.test(dottedName(field(items[0], 'function')!) ?? '')) {
      const list = named(field(items[0], 'arguments')!)[0];
      if (!list || list.type !== 'list') return null;
      const paths: string[] = [];
      for (const pair of named(list)) {
        const [key, value] = named(pair);
        if (pair.type !== 'tuple' || !key || key.type !== 'string' || !value) return null;
        const keyText = stringValue(key);
        if (keyText === null) return null;
        paths.push(addDecl(ctor(value, join(prefix, keyText))));
      }
      return paths;
    }
    if (items.some((a) => a.type !== 'call' && a.type !== 'attribute' && a.type !== 'identifier')) return null; // *layers, keywords
    return items.map((a, i) => addDecl(ctor(a, join(prefix, String(i)))));
  };

  const addDecl = (d: ModuleDecl): string => {
    cls.decls.set(d.path, d);
    return d.path;
  };

  const visit = (node: SyntaxNode): void => {
    for (const stmt of named(node)) {
      if (stmt.type === 'expression_statement') {
        const e = named(stmt)[0];
        if (e?.type === 'assignment') readAssignment(e);
        else if (e?.type === 'call') readCall(e);
      } else if (stmt.type !== 'function_definition' && stmt.type !== 'class_definition') {
        // if/for/with/try bodies: modules created conditionally still exist under that name.
        visit(stmt);
      }
    }
  };

  const readAssignment = (a: SyntaxNode): void => {
    const left = field(a, 'left');
    const right = field(a, 'right');
    if (!left || !right) return;
    const target = selfAttrPath(left);
    if (target !== null && !target.includes('.')) {
      addDecl(ctor(right, target));
      return;
    }
    if (left.type === 'identifier') {
      const dotted = dottedName(right);
      const name = left.text;
      if (dotted && scope.torchNnClass(locals.get(dotted)?.dotted ?? dotted)) {
        const resolved = locals.get(dotted)?.dotted ?? dotted;
        locals.set(name, { dotted: resolved, assumption: params.has(name) ? `assumes ${name} is ${resolved} (the value __init__ gives it when the caller passes none)` : undefined });
      } else {
        locals.delete(name);
      }
    }
  };

  const readCall = (c: SyntaxNode): void => {
    const callee = field(c, 'function');
    const args = field(c, 'arguments');
    if (!callee || !args) return;
    const calleeText = callee.text.replace(/\s+/g, '');
    if (cls.isSequential && /^super\([^)]*\)\.__init__$/.test(calleeText)) {
      // class ConvBNReLU(nn.Sequential): super().__init__(conv, bn, relu) → children 0, 1, 2.
      const children = sequentialChildren(args, '');
      cls.decls.set('', { path: '', className: 'Sequential', origin: 'torch.nn', line: c.startPosition.row, children });
      return;
    }
    if (/^self\.(add_module|register_module)$/.test(calleeText)) {
      const [nameArg, value] = named(args);
      const n = nameArg?.type === 'string' ? stringValue(nameArg) : null;
      if (n && value) addDecl(ctor(value, n));
    }
  };

  const body = field(init, 'body');
  if (body) visit(body);
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/** The contents of a plain string literal, null for f-strings and concatenations. */
function stringValue(node: SyntaxNode): string | null {
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
