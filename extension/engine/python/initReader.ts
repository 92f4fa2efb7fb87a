/**
 * Reads `__init__` in statement order and records the submodules it creates:
 * `self.conv1 = nn.Conv2d(...)`; helper functions and methods that return a
 * layer (`conv3x3(...)`, `self.depthwise_conv(...)`), followed into their
 * `return`; torchvision.ops blocks (`Conv2dNormActivation`); the children of
 * `nn.Sequential(...)` (named `features.0`, … like PyTorch, or by the keys of
 * an OrderedDict), also when written as `nn.Sequential(*layers)` with
 * `layers` built by `append`/`extend`/`+=` (loops over a literal range are
 * unrolled); `self.add_module("name", ...)`; for an `nn.Sequential` subclass
 * the children passed to `super().__init__(...)`.
 *
 * A list entry added in a loop of unknown length or under a condition has
 * no static index: the entries before it keep theirs, the entries after the
 * last such one are addressed from the end (`features.-1`, valid for
 * `self.features[-1]`), and the unknown ones become a barrier the data-flow
 * analysis does not chain across.
 */
import { join, selfAttrPath, stringValue, type ModuleDecl, type PyClass, type PyFunction } from './classes';
import { libraryBlock } from './libraryBlocks';
import { dottedName, type NameScope } from './names';
import { selfExpression } from './sequences';
import { field, named, type SyntaxNode } from './treeSitter';

export interface ReaderContext {
  /** Whether a name is an nn.Module class of this file or an imported workspace file. */
  isModuleClass(name: string): boolean;
  /** Module-level functions of this file and of imported workspace files. */
  functions: Map<string, PyFunction>;
}

interface Binding {
  /** The dotted name the local variable holds (`nn.BatchNorm2d`, `InvertedResidual`). */
  dotted: string;
  /** Set when the value is only a default the caller may override. */
  assumption?: string;
}

type Env = Map<string, Binding>;

interface ListEntry {
  expr: SyntaxNode;
  /** The bindings when the entry was added (a later `norm_layer = …` does not change it). */
  env: Env;
  /** Null when the entry has a static position; else where it was added ("in a loop (line 131)"). */
  uncertain: string | null;
}

interface ListState {
  entries: ListEntry[];
  /** How many conditions/loops enclosed the list's creation. */
  depth: number;
}

/** Helper functions are followed this deep (a helper calling a helper …). */
const MAX_HELPER_DEPTH = 4;
/** A literal `range(N)` loop is unrolled up to this many iterations. */
const MAX_UNROLL = 32;

export function readInit(init: SyntaxNode, cls: PyClass, context: ReaderContext): void {
  const reader = new InitReader(cls, context, cls.scope, 0);
  reader.bindParameters(init, null, new Map());
  const body = field(init, 'body');
  if (body) reader.visit(body);
}

class InitReader {
  private readonly env: Env = new Map();
  private readonly params = new Set<string>();
  private readonly lists = new Map<string, ListState>();
  /** The conditions and loops around the statement being read, innermost last. */
  private readonly around: string[] = [];

  constructor(
    private readonly cls: PyClass,
    private readonly context: ReaderContext,
    private readonly scope: NameScope,
    private readonly depth: number,
  ) {}

  /** Parameters with a class default (`norm_layer=nn.BatchNorm2d`) bind it; `args` (a helper call's) override. */
  bindParameters(fn: SyntaxNode, args: SyntaxNode | null, callerEnv: Env): void {
    const paramsNode = field(fn, 'parameters');
    const names: string[] = [];
    for (const p of paramsNode ? named(paramsNode) : []) {
      const pname = p.type === 'identifier' ? p.text : (field(p, 'name') ?? named(p).find((c) => c.type === 'identifier'))?.text;
      if (!pname) continue;
      names.push(pname);
      this.params.add(pname);
      const value = field(p, 'value');
      const dotted = value ? classExpression(value, this.lists) : null;
      // In a helper, name it: "assumes norm()'s layer is …" (the user reads it beside __init__).
      const owner = this.depth > 0 ? `${field(fn, 'name')?.text ?? 'the helper'}()'s ` : '';
      if (dotted && dotted !== 'None') this.env.set(pname, { dotted, assumption: `assumes ${owner}${pname} is its default ${dotted}` });
    }
    if (!args) return;
    const positional = names[0] === 'self' ? names.slice(1) : names;
    named(args).forEach((a, i) => {
      const keyword = a.type === 'keyword_argument' ? field(a, 'name')?.text : positional[i];
      const valueNode = a.type === 'keyword_argument' ? field(a, 'value') : a;
      if (!keyword || !valueNode || a.type === 'list_splat' || a.type === 'dictionary_splat') return;
      const dotted = dottedName(valueNode);
      if (dotted) this.env.set(keyword, callerEnv.get(dotted) ?? { dotted });
      else this.env.delete(keyword);
    });
  }

  visit(node: SyntaxNode): void {
    for (const stmt of named(node)) {
      if (stmt.type === 'expression_statement') {
        const e = named(stmt)[0];
        if (e?.type === 'assignment') this.assignment(e);
        else if (e?.type === 'augmented_assignment') this.augmented(e);
        else if (e?.type === 'call') this.callStatement(e);
      } else if (stmt.type === 'for_statement' || stmt.type === 'while_statement') {
        this.loop(stmt);
      } else if (stmt.type === 'if_statement') {
        // Modules created conditionally still exist under that name; list entries lose their index.
        const cond = field(stmt, 'condition')?.text ?? '…';
        this.within(`under \`if ${cond}\` (line ${stmt.startPosition.row + 1})`, () => this.visitChildren(stmt));
      } else if (stmt.type !== 'function_definition' && stmt.type !== 'class_definition' && stmt.type !== 'decorated_definition') {
        this.visitChildren(stmt); // with/try bodies
      }
    }
  }

  private visitChildren(stmt: SyntaxNode): void {
    for (const c of named(stmt)) {
      if (c.type === 'block') this.visit(c);
      else if (c.type.endsWith('_clause')) this.visitChildren(c); // else/elif/except/finally: their block
    }
  }

  private within(reason: string, body: () => void): void {
    this.around.push(reason);
    try {
      body();
    } finally {
      this.around.pop();
    }
  }

  private loop(stmt: SyntaxNode): void {
    const body = field(stmt, 'body');
    if (!body) return;
    const times = stmt.type === 'for_statement' ? literalIterations(field(stmt, 'right')) : null;
    if (times !== null) {
      for (let i = 0; i < times; i++) this.visit(body);
      return;
    }
    this.within(`in a loop (line ${stmt.startPosition.row + 1})`, () => this.visit(body));
  }

  private assignment(a: SyntaxNode): void {
    const left = field(a, 'left');
    const right = field(a, 'right');
    if (!left || !right) return;
    const target = selfAttrPath(left);
    if (target !== null && target !== '' && !target.includes('.')) {
      // `self.AuxLogits = None` first, a module later under an if: not a module until then.
      if (right.type === 'none') this.cls.decls.delete(target);
      else this.declare(this.ctor(right, target, this.env));
      return;
    }
    if (left.type !== 'identifier') return;
    const name = left.text;
    if (right.type === 'list' || right.type === 'tuple') {
      this.lists.set(name, { entries: [], depth: this.around.length });
      this.addEntries(name, named(right));
      return;
    }
    const other = right.type === 'identifier' ? this.lists.get(right.text) : undefined;
    if (other) {
      this.lists.set(name, { entries: [...other.entries], depth: other.depth });
      return;
    }
    this.lists.delete(name);
    const dotted = classExpression(right, this.lists);
    const resolved = dotted ? (this.env.get(dotted)?.dotted ?? dotted) : null;
    if (resolved && this.isConstructor(resolved)) {
      this.env.set(name, {
        dotted: resolved,
        assumption: this.params.has(name) ? `assumes ${name} is ${resolved} (the value __init__ gives it when the caller passes none)` : this.env.get(dotted!)?.assumption,
      });
    } else {
      this.env.delete(name);
    }
  }

  /** `layers += [a, b]`. */
  private augmented(a: SyntaxNode): void {
    const left = field(a, 'left');
    const right = field(a, 'right');
    if (left?.type !== 'identifier' || !this.lists.has(left.text) || !right) return;
    if (right.type === 'list' || right.type === 'tuple') this.addEntries(left.text, named(right));
    else this.lists.delete(left.text); // extended by something unknown: give up on this list
  }

  private addEntries(list: string, exprs: SyntaxNode[]): void {
    const state = this.lists.get(list)!;
    const uncertain = this.around.length > state.depth ? this.around[this.around.length - 1] : null;
    for (const expr of exprs) {
      if (expr.type === 'comment') continue;
      if (expr.type === 'list_splat') {
        this.lists.delete(list); // `[*other, x]`: not followed
        return;
      }
      state.entries.push({ expr, env: new Map(this.env), uncertain });
    }
  }

  private isConstructor(dotted: string): boolean {
    return !!(this.scope.torchNnClass(dotted) || this.scope.torchvisionOpsClass(dotted) || this.context.isModuleClass(dotted) || this.helper(dotted));
  }

  private callStatement(c: SyntaxNode): void {
    const callee = field(c, 'function');
    const args = field(c, 'arguments');
    if (!callee || !args) return;
    const calleeText = callee.text.replace(/\s+/g, '');
    const listMethod = /^([A-Za-z_]\w*)\.(append|extend)$/.exec(calleeText);
    if (listMethod && this.lists.has(listMethod[1])) {
      const [arg] = named(args);
      if (listMethod[2] === 'append' && arg) this.addEntries(listMethod[1], [arg]);
      else if (arg && (arg.type === 'list' || arg.type === 'tuple')) this.addEntries(listMethod[1], named(arg));
      else this.lists.delete(listMethod[1]);
      return;
    }
    if (this.cls.isSequential && /^super\([^)]*\)\.__init__$/.test(calleeText)) {
      // class ConvBNReLU(nn.Sequential): super().__init__(conv, bn, relu) → children 0, 1, 2.
      const children = this.sequentialChildren(args, '', this.env);
      this.cls.decls.set('', { path: '', className: 'Sequential', origin: 'torch.nn', line: c.startPosition.row, children });
      return;
    }
    if (/^self\.(add_module|register_module)$/.test(calleeText)) {
      const [nameArg, value] = named(args);
      const n = nameArg?.type === 'string' ? stringValue(nameArg) : null;
      if (n && value) this.declare(this.ctor(value, n, this.env));
    }
  }

  /**
   * Records a declaration. When `__init__` assigns the same path again in another branch
   * (`if stride > 1: self.branch1 = nn.Sequential(…) else: self.branch1 = nn.Sequential()`),
   * the richer one is kept, marked with its length so fuse_model() can test for it.
   */
  private declare(d: ModuleDecl): string {
    const before = this.cls.decls.get(d.path);
    const conditional = this.around.length > 0;
    if (!conditional || d.path.includes('.')) {
      // Unconditional (or a child of a container declared just now): the last assignment wins.
      this.cls.decls.set(d.path, d);
      return d.path;
    }
    if (!before) {
      // `if aux_logits: self.AuxLogits = …`: the module may be absent (or None).
      this.cls.decls.set(d.path, { ...d, guard: { path: d.path } });
    } else if (before.children && d.children && before.children.length !== d.children.length) {
      const kept = before.children.length > d.children.length ? before : d;
      this.cls.decls.set(d.path, { ...kept, guard: { path: d.path, length: kept.children!.length } });
    } else if (before.className !== d.className || before.origin !== d.origin) {
      // `if act: self.act = nn.ReLU() else: self.act = nn.Identity()`: either layer may be there.
      const kinds = [before, d].map((x) => (x.className ? (x.origin === 'torch.nn' ? `nn.${x.className}` : x.className) : 'an unknown module')).join(' or ');
      this.cls.decls.set(d.path, { path: d.path, className: null, origin: 'unknown', line: d.line, unknownWhy: `\`__init__\` makes it ${kinds} depending on a condition` });
    } else {
      this.cls.decls.set(d.path, { ...d, ...(before.guard ? { guard: before.guard } : {}) });
    }
    return d.path;
  }

  /** A leaf declaration (children were declared by whoever built them). */
  private leaf(path: string, expr: SyntaxNode, rest: Omit<ModuleDecl, 'path' | 'line'>): ModuleDecl {
    return { path, line: expr.startPosition.row, ...rest };
  }

  private ctor(expr: SyntaxNode, path: string, env: Env): ModuleDecl {
    const selfRef = selfAttrPath(expr);
    if (selfRef !== null) return this.leaf(path, expr, { className: null, origin: 'unknown', aliasOf: selfRef });
    if (expr.type !== 'call') {
      const why = expr.type === 'identifier' && this.params.has(expr.text) ? `it is the constructor argument \`${expr.text}\`, so its layers are not known here` : `\`${short(expr.text)}\` is not a layer constructor`;
      return this.leaf(path, expr, { className: null, origin: 'unknown', unknownWhy: why });
    }
    const callee = field(expr, 'function');
    const args = field(expr, 'arguments');
    let dotted = callee ? dottedName(callee) : null;
    let assumption: string | undefined;
    if (dotted && env.has(dotted)) {
      const b = env.get(dotted)!;
      assumption = b.assumption;
      dotted = b.dotted;
    }
    if (!dotted) return this.leaf(path, expr, { className: null, origin: 'unknown', unknownWhy: `\`${short(callee?.text ?? expr.text)}(…)\` is not a name the analysis can follow` });
    if (this.params.has(dotted) && !env.has(dotted)) {
      return this.leaf(path, expr, { className: null, origin: 'unknown', unknownWhy: `\`${dotted}(…)\`: \`${dotted}\` is an argument, so its class is chosen by the caller` });
    }
    const torchClass = this.scope.torchNnClass(dotted);
    if (torchClass === 'Sequential') {
      return this.leaf(path, expr, { className: 'Sequential', origin: 'torch.nn', children: this.sequentialChildren(args, path, env) });
    }
    if (torchClass) return this.leaf(path, expr, { className: torchClass, origin: 'torch.nn', ...(assumption ? { assumption } : {}) });
    const opsClass = this.scope.torchvisionOpsClass(dotted);
    const block = opsClass ? libraryBlock(opsClass) : null;
    if (opsClass && block) return this.library(expr, path, opsClass, args, env);
    if (this.context.isModuleClass(dotted)) return this.leaf(path, expr, { className: dotted, origin: 'local' });
    const helper = this.helper(dotted);
    if (helper) return this.followHelper(helper, expr, path, args, env);
    return this.leaf(path, expr, { className: null, origin: 'unknown', unknownWhy: `\`${dotted}(…)\` is neither a torch.nn layer nor a class or helper function of this file or of a workspace file it imports` });
  }

  private helper(dotted: string): PyFunction | null {
    const method = /^(?:self|[A-Z]\w*)\.([A-Za-z_]\w*)$/.exec(dotted);
    if (method) {
      const m = this.cls.methods.get(method[1]);
      return m ? { node: m, scope: this.scope } : null;
    }
    return this.context.functions.get(dotted) ?? null;
  }

  /** `conv3x3(...)`: the module its `return` builds, read with the call's arguments bound. */
  private followHelper(helper: PyFunction, call: SyntaxNode, path: string, args: SyntaxNode | null, env: Env): ModuleDecl {
    const name = field(helper.node, 'name')?.text ?? 'helper';
    const returns = returnExpressions(helper.node);
    if (this.depth >= MAX_HELPER_DEPTH || returns.length !== 1) {
      const why = returns.length === 0 ? `\`${name}()\` returns no module` : returns.length > 1 ? `\`${name}()\` returns different things on different paths` : `\`${name}()\` calls helpers too deeply to follow`;
      return this.leaf(path, call, { className: null, origin: 'unknown', unknownWhy: why });
    }
    const inner = new InitReader(this.cls, this.context, helper.scope, this.depth + 1);
    inner.bindParameters(helper.node, args, env);
    const body = field(helper.node, 'body');
    if (body) inner.visit(body);
    const d = inner.ctor(returns[0], path, inner.env);
    // Lines point at the call in __init__, where the user reads the model.
    return { ...d, line: call.startPosition.row };
  }

  /** `Conv2dNormActivation(…, norm_layer=…, activation_layer=…)`: its [conv, norm, act] children. */
  private library(expr: SyntaxNode, path: string, opsClass: string, args: SyntaxNode | null, env: Env): ModuleDecl {
    const block = libraryBlock(opsClass)!;
    const argList = args ? named(args).filter((a) => a.type !== 'comment') : [];
    const children: (string | null)[] = [];
    let index = 0;
    for (const child of block.children) {
      let className: string | null = child.defaultClass;
      let assumption: string | undefined;
      let unknownWhy: string | undefined;
      if (child.param) {
        const { keyword, position } = child.param;
        const arg = argList.find((a) => a.type === 'keyword_argument' && field(a, 'name')?.text === keyword) ?? (argList[position]?.type !== 'keyword_argument' ? argList[position] : undefined);
        const valueNode = arg?.type === 'keyword_argument' ? field(arg, 'value') : arg;
        if (valueNode) {
          const dotted = dottedName(valueNode);
          const bound = dotted ? env.get(dotted) : undefined;
          const resolved = bound?.dotted ?? dotted;
          assumption = bound?.assumption;
          if (valueNode.type === 'none' || resolved === 'None') className = null;
          else {
            className = resolved ? this.scope.torchNnClass(resolved) : null;
            if (!className) {
              className = '';
              unknownWhy = `${opsClass}'s ${keyword} is \`${short(valueNode.text)}\`, which is not known statically`;
            }
          }
        }
      }
      if (className === null) continue; // passed None: torchvision leaves the layer out
      const childPath = join(path, block.indexed ? String(index++) : child.name!);
      const d: ModuleDecl = className
        ? { path: childPath, className, origin: 'torch.nn', line: expr.startPosition.row, ...(assumption ? { assumption } : {}) }
        : { path: childPath, className: null, origin: 'unknown', line: expr.startPosition.row, unknownWhy };
      children.push(this.declare(d));
    }
    return this.leaf(path, expr, { className: opsClass, origin: 'library', children });
  }

  private sequentialChildren(args: SyntaxNode | null, prefix: string, env: Env): (string | null)[] | null {
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
        paths.push(this.declare(this.ctor(value, join(prefix, keyText), env)));
      }
      return paths;
    }
    // Flatten `*layers` (a list built above) and plain arguments into one entry list.
    const entries: ListEntry[] = [];
    for (const a of items) {
      if (a.type === 'list_splat') {
        const inner = named(a)[0];
        const list = inner?.type === 'identifier' ? this.lists.get(inner.text) : undefined;
        if (!list) {
          this.note(a, describe(prefix), `built from \`${short(a.text)}\`, whose contents the analysis could not follow`);
          return null;
        }
        entries.push(...list.entries);
      } else if (a.type === 'keyword_argument' || a.type === 'dictionary_splat') {
        return null;
      } else {
        entries.push({ expr: a, env, uncertain: null });
      }
    }
    return this.placeEntries(entries, prefix);
  }

  /**
   * Static indices before the first uncertain entry, indices from the end after the last one, a
   * barrier between. One entry added under an `if` (MobileNetV2's expansion layer) is placed at its
   * index with a guard: it is there exactly when the Sequential has all the entries.
   */
  private placeEntries(entries: ListEntry[], prefix: string): (string | null)[] {
    const first = entries.findIndex((e) => e.uncertain !== null);
    const last = entries.length - 1 - [...entries].reverse().findIndex((e) => e.uncertain !== null);
    const onlyOptional = first >= 0 && first === last && entries[first].uncertain!.startsWith('under ') ? first : -1;
    const children: (string | null)[] = [];
    let barrier = false;
    entries.forEach((e, i) => {
      if (i === onlyOptional) {
        const d = this.ctor(e.expr, join(prefix, String(i)), e.env);
        children.push(this.declare({ ...d, guard: { path: prefix, length: entries.length } }));
      } else if (first < 0 || i < first) {
        children.push(this.declare(this.ctor(e.expr, join(prefix, String(i)), e.env)));
      } else if (i > last) {
        children.push(this.declare(this.ctor(e.expr, join(prefix, String(i - entries.length)), e.env)));
      } else {
        if (!barrier) children.push(null);
        barrier = true;
        const what = e.expr.type === 'call' ? `\`${short(field(e.expr, 'function')?.text ?? e.expr.text)}(…)\`` : `\`${short(e.expr.text)}\``;
        const why = e.uncertain ?? 'after an entry without a fixed position';
        this.note(e.expr, describe(prefix), `${what} is added ${why}, so it has no fixed index; groups inside it are not offered here${e.expr.type === 'call' && this.context.isModuleClass(dottedName(field(e.expr, 'function')!) ?? '') ? ' (its class gets its own lens)' : ''}`);
      }
    });
    return children;
  }

  private note(node: SyntaxNode, subject: string, text: string): void {
    this.cls.notes.push({ line: node.startPosition.row, subject, text });
  }
}

/**
 * The class a value expression names: `nn.ReLU`, `partial(nn.BatchNorm2d, eps=0.001)` (the
 * arguments do not change the layer type), `blocks[0]` of a list literal `[BasicConv2d, …]`.
 */
function classExpression(node: SyntaxNode, lists: Map<string, ListState>): string | null {
  if (node.type === 'call' && /^(functools\.)?partial$/.test(field(node, 'function')?.text ?? '')) {
    const first = named(field(node, 'arguments')!)[0];
    return first ? dottedName(first) : null;
  }
  if (node.type === 'subscript') {
    const list = lists.get(field(node, 'value')?.text ?? '');
    const index = field(node, 'subscript');
    if (!list || index?.type !== 'integer') return null;
    const entry = list.entries[Number(index.text)];
    return entry && entry.uncertain === null ? dottedName(entry.expr) : null;
  }
  return dottedName(node);
}

/** Iterations of `for … in range(N)` / over a literal list or tuple; null when not known. */
function literalIterations(iter: SyntaxNode | null): number | null {
  if (!iter) return null;
  if (iter.type === 'list' || iter.type === 'tuple') return named(iter).length <= MAX_UNROLL ? named(iter).length : null;
  if (iter.type !== 'call' || field(iter, 'function')?.text !== 'range') return null;
  const args = named(field(iter, 'arguments')!);
  if (!args.every((a) => a.type === 'integer')) return null;
  const [start, stop, step] = args.length === 1
    ? [0, Number(args[0].text), 1]
    : [Number(args[0].text), Number(args[1].text), args[2] ? Number(args[2].text) : 1];
  if (step <= 0) return null;
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return n <= MAX_UNROLL ? n : null;
}

/** The expressions of the `return` statements of a function (not of nested ones). */
function returnExpressions(fn: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const walk = (n: SyntaxNode) => {
    for (const c of named(n)) {
      if (c.type === 'function_definition' || c.type === 'class_definition' || c.type === 'lambda') continue;
      if (c.type === 'return_statement') {
        const e = named(c)[0];
        if (e) out.push(e);
      } else walk(c);
    }
  };
  const body = field(fn, 'body');
  if (body) walk(body);
  return out;
}

function describe(prefix: string): string {
  return prefix ? selfExpression(prefix) : 'the nn.Sequential';
}

function short(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}…` : oneLine;
}

