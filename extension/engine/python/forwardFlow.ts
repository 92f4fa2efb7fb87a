/**
 * Follows the data through `forward`: which submodule is called on what,
 * and how often each intermediate value is used. Every expression gets a
 * value number; reading a variable counts a use of its value. A sequence
 * conv → bn is then real only when bn's sole input is conv's output and
 * that output has no other use (no skip connection, no `out += identity`,
 * no print, no assignment to `self.cache`).
 *
 * The analysis is conservative by construction: anything it does not
 * understand reads its operands (counting uses) and yields a fresh value, so
 * unknown code can only hide sequences, never invent one. Branches merge
 * their variables into a phi value whose reading uses every source; calls
 * inside loops are marked; `self.helper(x)` methods are followed inline
 * (torchvision's `_forward_impl`).
 */
import { selfAttrPath, type ModuleDecl, type PyClass } from './classes';
import { field, named, type SyntaxNode } from './treeSitter';

export interface CallEvent {
  /** Path of the module called (aliases resolved). */
  module: string;
  /** 0-based line of the call (for a Sequential child: of the Sequential's call). */
  line: number;
  /** Value numbers of the positional arguments. */
  inputs: number[];
  /** Keyword or unpacked arguments: such a call is never part of a sequence. */
  extraArgs: boolean;
  output: number;
  inLoop: boolean;
  /** Set when the call is implied by calling the nn.Sequential at this path. */
  viaSequential?: string;
  /** The if/elif/else branches the call is in (`"12:0"`: the first branch of the if with id 12), outermost first. */
  branches: string[];
}

/** Two calls that can never both run: they sit in different branches of one `if`. */
export function exclusive(a: CallEvent, b: CallEvent): boolean {
  const ofA = new Map(a.branches.map((t) => t.split(':') as [string, string]));
  return b.branches.some((t) => {
    const [id, branch] = t.split(':');
    return ofA.has(id) && ofA.get(id) !== branch;
  });
}

export interface SideReference {
  module: string;
  line: number;
  /** The expression, for the message (`self.conv1.weight`). */
  text: string;
}

/** A call of a torch function on a value (`F.relu(x)`): fuse_modules cannot fuse it, but the user may want to know. */
export interface FunctionalCall {
  /** As written: `F.relu`. */
  name: string;
  input: number;
  line: number;
}

export interface ForwardFlow {
  /** False when the class has no forward (then only an nn.Sequential subclass has calls). */
  hasForward: boolean;
  events: CallEvent[];
  /** Uses per value number. */
  uses: number[];
  sideReferences: SideReference[];
  functionalCalls: FunctionalCall[];
}

type Env = Map<string, number>;

const MAX_INLINE_DEPTH = 4;

export function analyzeForward(cls: PyClass): ForwardFlow {
  return new FlowBuilder(cls).run();
}

class FlowBuilder {
  private readonly events: CallEvent[] = [];
  private readonly uses: number[] = [];
  private readonly phiSources = new Map<number, number[]>();
  private readonly sideReferences: SideReference[] = [];
  private readonly functionalCalls: FunctionalCall[] = [];
  private loopDepth = 0;
  private readonly branchStack: string[] = [];
  private nextIf = 0;
  private readonly inlineStack: string[] = [];
  private returns: number[] = [];

  constructor(private readonly cls: PyClass) {}

  run(): ForwardFlow {
    const forward = this.cls.methods.get('forward');
    if (forward) {
      this.callFunction(forward, []);
    } else if (this.cls.isSequential && this.cls.decls.has('')) {
      // An nn.Sequential subclass without its own forward runs its children in order.
      this.callModule('', [this.fresh()], false, this.cls.decls.get('')!.line);
    }
    return { hasForward: !!forward, events: this.events, uses: this.uses, sideReferences: this.sideReferences, functionalCalls: this.functionalCalls };
  }

  private fresh(): number {
    this.uses.push(0);
    return this.uses.length - 1;
  }

  private use(v: number): void {
    this.uses[v]++;
    for (const s of this.phiSources.get(v) ?? []) this.use(s);
  }

  private phi(sources: number[]): number {
    const distinct = [...new Set(sources)];
    if (distinct.length === 1) return distinct[0];
    const v = this.fresh();
    this.phiSources.set(v, distinct);
    return v;
  }

  private decl(path: string): ModuleDecl | undefined {
    let d = this.cls.decls.get(path);
    for (let hops = 0; d?.aliasOf !== undefined && hops < 8; hops++) d = this.cls.decls.get(d.aliasOf);
    return d;
  }

  /** Binds the arguments to the parameters (after `self`) and runs the body; returns the merged return value. */
  private callFunction(fn: SyntaxNode, args: number[]): number {
    const env: Env = new Map();
    const params = field(fn, 'parameters');
    const names = (params ? named(params) : [])
      .map((p) => (p.type === 'identifier' ? p.text : (field(p, 'name') ?? named(p).find((c) => c.type === 'identifier'))?.text))
      .filter((n): n is string => !!n);
    names.slice(1).forEach((n, i) => env.set(n, args[i] ?? this.fresh()));
    const outer = this.returns;
    this.returns = [];
    const body = field(fn, 'body');
    if (body) this.block(body, env);
    const result = this.returns.length ? this.phi(this.returns) : this.fresh();
    this.returns = outer;
    return result;
  }

  private block(node: SyntaxNode, env: Env): void {
    for (const stmt of named(node)) this.statement(stmt, env);
  }

  private statement(stmt: SyntaxNode, env: Env): void {
    switch (stmt.type) {
      case 'expression_statement':
        for (const e of named(stmt)) this.expressionStatement(e, env);
        return;
      case 'return_statement': {
        const e = named(stmt)[0];
        this.returns.push(e ? this.expr(e, env) : this.fresh()); // the caller reads it
        return;
      }
      case 'if_statement': return this.ifStatement(stmt, env);
      case 'for_statement':
      case 'while_statement':
        return this.loop(stmt, env);
      case 'try_statement': return this.tryStatement(stmt, env);
      case 'with_statement':
        for (const c of named(stmt)) {
          if (c.type === 'block') this.block(c, env);
          else this.read(c, env);
        }
        return;
      case 'function_definition':
      case 'class_definition':
      case 'decorated_definition':
      case 'comment':
      case 'pass_statement':
      case 'import_statement':
      case 'import_from_statement':
        return;
      default:
        // assert, del, raise, global, …: evaluate what they read.
        for (const c of named(stmt)) this.read(c, env);
    }
  }

  private expressionStatement(e: SyntaxNode, env: Env): void {
    if (e.type === 'assignment') {
      this.assignment(e, env);
    } else if (e.type === 'augmented_assignment') {
      const left = field(e, 'left');
      const right = field(e, 'right');
      const r = right ? this.read(right, env) : this.fresh();
      void r;
      if (left?.type === 'identifier') {
        this.read(left, env); // `out += identity` reads out
        env.set(left.text, this.fresh());
      } else if (left) {
        this.read(left, env);
      }
    } else {
      this.read(e, env);
    }
  }

  private assignment(a: SyntaxNode, env: Env): void {
    const left = field(a, 'left');
    const right = field(a, 'right');
    let value: number;
    if (!right) value = this.fresh();
    else if (right.type === 'assignment') {
      // a = b = expr: evaluate the inner assignment, then bind a to b's new value.
      this.assignment(right, env);
      const inner = field(right, 'left');
      value = inner?.type === 'identifier' && env.has(inner.text) ? env.get(inner.text)! : this.fresh();
    } else value = this.expr(right, env); // `y = x` aliases, it does not use
    if (left) this.bind(left, value, env);
  }

  private bind(target: SyntaxNode, value: number, env: Env): void {
    if (target.type === 'identifier') {
      env.set(target.text, value); // an alias: later reads of either name use the same value
      return;
    }
    // Unpacking, `self.cache = x`, `d[k] = x`: the value escapes, count it as used.
    this.use(value);
    if (target.type === 'pattern_list' || target.type === 'tuple_pattern' || target.type === 'list_pattern') {
      for (const t of named(target)) this.bind(t.type === 'list_splat_pattern' ? named(t)[0] ?? t : t, this.fresh(), env);
    } else {
      for (const c of named(target)) if (target.type !== 'attribute' || c === field(target, 'object')) this.read(c, env);
      const path = selfAttrPath(target);
      if (path !== null) this.sideReference(target, path);
    }
  }

  private ifStatement(stmt: SyntaxNode, env: Env): void {
    const cond = field(stmt, 'condition');
    if (cond) this.read(cond, env);
    const branches: Env[] = [];
    const consequence = field(stmt, 'consequence');
    const ifId = this.nextIf++;
    const inBranch = (index: number, run: () => void) => {
      this.branchStack.push(`${ifId}:${index}`);
      try {
        run();
      } finally {
        this.branchStack.pop();
      }
    };
    const first = new Map(env);
    if (consequence) inBranch(0, () => this.block(consequence, first));
    branches.push(first);
    let hasElse = false;
    for (const alt of stmt.childrenForFieldName('alternative')) {
      if (!alt) continue;
      const branchEnv = new Map(env);
      inBranch(branches.length, () => {
        if (alt.type === 'elif_clause') {
          const c = field(alt, 'condition');
          if (c) this.read(c, branchEnv);
          const body = field(alt, 'consequence');
          if (body) this.block(body, branchEnv);
        } else {
          hasElse = true;
          const body = field(alt, 'body');
          if (body) this.block(body, branchEnv);
        }
      });
      branches.push(branchEnv);
    }
    if (!hasElse) branches.push(new Map(env));
    this.merge(env, branches);
  }

  private tryStatement(stmt: SyntaxNode, env: Env): void {
    const body = field(stmt, 'body');
    const afterBody = new Map(env);
    if (body) this.block(body, afterBody);
    const branches = [afterBody];
    for (const clause of named(stmt)) {
      if (clause.type === 'except_clause' || clause.type === 'except_group_clause' || clause.type === 'else_clause') {
        const branchEnv = new Map(clause.type === 'else_clause' ? afterBody : env);
        for (const c of named(clause)) {
          if (c.type === 'block') this.block(c, branchEnv);
          else this.read(c, branchEnv);
        }
        branches.push(branchEnv);
      }
    }
    this.merge(env, branches);
    for (const clause of named(stmt)) if (clause.type === 'finally_clause') for (const c of named(clause)) if (c.type === 'block') this.block(c, env);
  }

  private loop(stmt: SyntaxNode, env: Env): void {
    const header = stmt.type === 'for_statement' ? field(stmt, 'right') : field(stmt, 'condition');
    if (header) this.read(header, env);
    const bodyEnv = new Map(env);
    const left = stmt.type === 'for_statement' ? field(stmt, 'left') : null;
    if (left) this.bindFresh(left, bodyEnv);
    this.loopDepth++;
    const body = field(stmt, 'body');
    if (body) this.block(body, bodyEnv);
    this.loopDepth--;
    const alternative = field(stmt, 'alternative');
    // After the loop a variable holds its value from before (zero iterations) or from the body.
    this.merge(env, [new Map(env), bodyEnv]);
    if (alternative) for (const c of named(alternative)) if (c.type === 'block') this.block(c, env);
  }

  private bindFresh(target: SyntaxNode, env: Env): void {
    if (target.type === 'identifier') env.set(target.text, this.fresh());
    else for (const c of named(target)) this.bindFresh(c, env);
  }

  /** Sets env to the merge of the branch environments (phi where they differ). */
  private merge(env: Env, branches: Env[]): void {
    const names = new Set(branches.flatMap((b) => [...b.keys()]));
    for (const n of names) {
      const sources = branches.map((b) => b.get(n)).filter((v): v is number => v !== undefined);
      env.set(n, this.phi(sources));
    }
  }

  private expr(node: SyntaxNode, env: Env): number {
    switch (node.type) {
      case 'identifier': {
        if (node.text === 'self') return this.fresh();
        return env.get(node.text) ?? this.fresh(); // unknown: a global, a builtin
      }
      case 'parenthesized_expression': {
        const inner = named(node).find((c) => c.type !== 'comment');
        return inner ? this.expr(inner, env) : this.fresh();
      }
      case 'call': return this.call(node, env);
      case 'attribute':
      case 'subscript': {
        const path = selfAttrPath(node);
        if (path !== null) {
          this.sideReference(node, path);
          return this.fresh();
        }
        const base = field(node, node.type === 'attribute' ? 'object' : 'value');
        if (base) this.read(base, env);
        if (node.type === 'subscript') for (const s of node.childrenForFieldName('subscript')) if (s) this.read(s, env);
        return this.fresh();
      }
      case 'keyword_argument': {
        const value = field(node, 'value');
        return value ? this.expr(value, env) : this.fresh();
      }
      case 'lambda':
      case 'string':
      case 'integer':
      case 'float':
      case 'true':
      case 'false':
      case 'none':
      case 'comment':
        return this.fresh();
      default:
        for (const c of named(node)) this.read(c, env);
        return this.fresh();
    }
  }

  /** Evaluates an expression whose value is consumed here (an operand, an argument, a condition). */
  private read(node: SyntaxNode, env: Env): number {
    const v = this.expr(node, env);
    this.use(v);
    return v;
  }

  private call(node: SyntaxNode, env: Env): number {
    const callee = field(node, 'function');
    const args = field(node, 'arguments');
    const path = callee ? selfAttrPath(callee) : null;
    if (path !== null && path !== '') {
      const decl = this.decl(path);
      if (decl) {
        const { inputs, extra } = this.arguments(args, env);
        return this.callModule(decl.path, inputs, extra, node.startPosition.row);
      }
      const method = this.cls.methods.get(path);
      if (method && !this.inlineStack.includes(path) && this.inlineStack.length < MAX_INLINE_DEPTH) {
        const { inputs } = this.arguments(args, env);
        this.inlineStack.push(path);
        const result = this.callFunction(method, inputs);
        this.inlineStack.pop();
        return result;
      }
      this.sideReference(callee!, path);
    } else if (callee) {
      this.read(callee, env);
      // F.relu(x), torch.relu(x), x.relu(): an activation written as a function.
      const name = callee.text.replace(/\s+/g, '');
      if (/^(F|torch|torch\.nn\.functional|nn\.functional)\.relu_?$/.test(name)) {
        const { inputs } = this.arguments(args, env);
        if (inputs.length > 0) this.functionalCalls.push({ name, input: inputs[0], line: node.startPosition.row });
        return this.fresh();
      }
    }
    this.arguments(args, env);
    return this.fresh();
  }

  private arguments(args: SyntaxNode | null, env: Env): { inputs: number[]; extra: boolean } {
    const inputs: number[] = [];
    let extra = false;
    if (!args) return { inputs, extra };
    for (const a of named(args)) {
      if (a.type === 'comment') continue;
      const v = this.read(a, env);
      if (a.type === 'keyword_argument' || a.type === 'list_splat' || a.type === 'dictionary_splat' || args.type === 'generator_expression') extra = true;
      else inputs.push(v);
    }
    return { inputs, extra };
  }

  /** A call of the module at `path`; an nn.Sequential expands into its children, each feeding the next. */
  private callModule(path: string, inputs: number[], extraArgs: boolean, line: number, viaSequential?: string): number {
    const decl = this.decl(path);
    const children = decl?.children;
    if (children && children.length > 0 && !extraArgs && inputs.length === 1) {
      // Each child's output is used exactly once, by the next child; the last one is the Sequential's result.
      let value = inputs[0];
      children.forEach((child, i) => {
        if (i > 0) this.use(value);
        // null: modules without a static index sit here; nothing chains across them.
        value = child === null ? this.fresh() : this.callModule(child, [value], false, line, viaSequential ?? path);
      });
      return value;
    }
    const output = this.fresh();
    this.events.push({
      module: decl?.path ?? path,
      line,
      inputs,
      extraArgs,
      output,
      inLoop: this.loopDepth > 0,
      branches: [...this.branchStack],
      ...(viaSequential !== undefined ? { viaSequential } : {}),
    });
    return output;
  }

  private sideReference(node: SyntaxNode, path: string): void {
    // `self.conv1.weight` refers to conv1; find the longest declared prefix.
    const parts = path.split('.');
    for (let n = parts.length; n > 0; n--) {
      const decl = this.decl(parts.slice(0, n).join('.'));
      if (decl) {
        this.sideReferences.push({ module: decl.path, line: node.startPosition.row, text: node.text });
        return;
      }
    }
  }
}
