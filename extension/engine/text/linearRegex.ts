/**
 * Regular expressions that cannot hang: a Thompson-NFA (Pike VM) matcher for
 * the patterns adapter configs carry (PEFT's rank_pattern / alpha_pattern
 * keys, Python `re` syntax). Matching costs O(text length × pattern size),
 * whatever the pattern — `((.|.)*)*X` against a long module name is as quick
 * as `q_proj` — where a backtracking engine (JavaScript's RegExp, Python's re)
 * takes exponential time.
 *
 * Supported: literals, `.`, classes `[a-z_]` / `[^…]`, escapes `\d \w \s \D
 * \W \S` and escaped punctuation, groups `( )`, `(?: )`, `(?P<name> )`,
 * alternation `|`, quantifiers `* + ? {n} {n,} {n,m}` (lazy `?` forms too:
 * for a yes/no match they mean the same), anchors `^ $`. Refused with a clear
 * message: back-references and look-arounds (not regular; no linear-time
 * engine can run them), and patterns that compile to more than
 * MAX_PROGRAM_SIZE instructions (`(a{1000}){1000}`).
 */

/** Bigger patterns are refused: the matcher's cost per character grows with the program. */
export const MAX_PROGRAM_SIZE = 20_000;

export class PatternSyntaxError extends Error {}

type CharTest = (c: string) => boolean;

type Node =
  | { kind: 'char'; test: CharTest }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; item: Node; min: number; max: number } // max Infinity: unbounded
  | { kind: 'start' }
  | { kind: 'end' };

type Instr =
  | { op: 'char'; test: CharTest }
  | { op: 'split'; a: number; b: number }
  | { op: 'jmp'; to: number }
  | { op: 'start' }
  | { op: 'end' }
  | { op: 'match' };

const isDigit: CharTest = (c) => c >= '0' && c <= '9';
const isWord: CharTest = (c) => isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || (c > '\x7f' && /\p{L}|\p{N}/u.test(c));
const isSpace: CharTest = (c) => /\s/.test(c);
const any: CharTest = (c) => c !== '\n';

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) throw this.error(`unbalanced ')'`);
    return node;
  }

  private error(what: string): PatternSyntaxError {
    return new PatternSyntaxError(`${what} at position ${this.i}`);
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: 'alt', options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') items.push(this.quantified());
    return { kind: 'seq', items };
  }

  private quantified(): Node {
    let item = this.atom();
    for (;;) {
      const c = this.src[this.i];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{' && /^\{\d*(,\d*)?\}/.test(this.src.slice(this.i))) {
        const m = /^\{(\d*)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
        min = m[1] === '' ? 0 : Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (max < min) throw this.error('a repeat {n,m} with m < n');
        this.i += m[0].length - 1;
      } else return item;
      if (item.kind === 'start' || item.kind === 'end') throw this.error('a quantifier after an anchor');
      this.i++;
      if (this.src[this.i] === '?' || this.src[this.i] === '+') this.i++; // lazy / possessive: the same language
      item = { kind: 'repeat', item, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i++];
    switch (c) {
      case '(':
        return this.group();
      case '[':
        return { kind: 'char', test: this.charClass() };
      case '.':
        return { kind: 'char', test: any };
      case '^':
        return { kind: 'start' };
      case '$':
        return { kind: 'end' };
      case '\\':
        return { kind: 'char', test: this.escape(false) };
      case '*':
      case '+':
      case '?':
        throw this.error(`nothing to repeat before '${c}'`);
      default:
        return { kind: 'char', test: (x) => x === c };
    }
  }

  private group(): Node {
    if (this.src[this.i] === '?') {
      const rest = this.src.slice(this.i);
      if (rest.startsWith('?:')) this.i += 2;
      else if (/^\?P<[A-Za-z_]\w*>/.test(rest)) this.i += rest.indexOf('>') + 1;
      else if (/^\?(=|!|<=|<!)/.test(rest)) throw new PatternSyntaxError('look-around assertions are not supported (they are not regular; use a plain pattern)');
      else throw this.error(`unsupported group '(${rest.slice(0, 3)}'`);
    }
    const inner = this.alternation();
    if (this.src[this.i] !== ')') throw this.error(`missing ')'`);
    this.i++;
    return inner;
  }

  private escape(inClass: boolean): CharTest {
    const c = this.src[this.i++];
    if (c === undefined) throw this.error('a pattern cannot end with \\');
    switch (c) {
      case 'd': return isDigit;
      case 'D': return (x) => !isDigit(x);
      case 'w': return isWord;
      case 'W': return (x) => !isWord(x);
      case 's': return isSpace;
      case 'S': return (x) => !isSpace(x);
      case 'n': return (x) => x === '\n';
      case 't': return (x) => x === '\t';
    }
    if (/[1-9]/.test(c) && !inClass) throw new PatternSyntaxError('back-references are not supported (they are not regular)');
    if (/[A-Za-z0-9]/.test(c)) throw this.error(`unsupported escape '\\${c}'`);
    return (x) => x === c;
  }

  private charClass(): CharTest {
    const negate = this.src[this.i] === '^';
    if (negate) this.i++;
    const tests: CharTest[] = [];
    let first = true;
    while (this.i < this.src.length && (this.src[this.i] !== ']' || first)) {
      first = false;
      let lo: string | CharTest = this.src[this.i++];
      if (lo === '\\') lo = this.escape(true);
      if (typeof lo === 'string' && this.src[this.i] === '-' && this.src[this.i + 1] !== undefined && this.src[this.i + 1] !== ']') {
        this.i++;
        let hi = this.src[this.i++];
        if (hi === '\\') {
          const esc = this.src[this.i++];
          if (esc === undefined || /[A-Za-z0-9]/.test(esc)) throw this.error('a class range must end in a single character');
          hi = esc;
        }
        if (hi < lo) throw this.error(`bad class range ${lo}-${hi}`);
        const from = lo;
        tests.push((x) => x >= from && x <= hi);
      } else if (typeof lo === 'string') {
        const ch = lo;
        tests.push((x) => x === ch);
      } else tests.push(lo);
    }
    if (this.src[this.i] !== ']') throw this.error(`missing ']'`);
    this.i++;
    return negate ? (x) => !tests.some((t) => t(x)) : (x) => tests.some((t) => t(x));
  }
}

class Compiler {
  readonly prog: Instr[] = [];

  emit(instr: Instr): number {
    if (this.prog.length >= MAX_PROGRAM_SIZE) throw new PatternSyntaxError(`the pattern is too large (more than ${MAX_PROGRAM_SIZE} steps once its repeats are expanded)`);
    this.prog.push(instr);
    return this.prog.length - 1;
  }

  compile(node: Node): void {
    switch (node.kind) {
      case 'char':
        this.emit({ op: 'char', test: node.test });
        return;
      case 'start':
      case 'end':
        this.emit({ op: node.kind });
        return;
      case 'seq':
        for (const item of node.items) this.compile(item);
        return;
      case 'alt': {
        const jumps: number[] = [];
        node.options.forEach((option, k) => {
          if (k < node.options.length - 1) {
            const split = this.emit({ op: 'split', a: 0, b: 0 });
            (this.prog[split] as { a: number }).a = split + 1;
            this.compile(option);
            jumps.push(this.emit({ op: 'jmp', to: 0 }));
            (this.prog[split] as { b: number }).b = this.prog.length;
          } else this.compile(option);
        });
        for (const j of jumps) (this.prog[j] as { to: number }).to = this.prog.length;
        return;
      }
      case 'repeat': {
        for (let k = 0; k < node.min; k++) this.compile(node.item);
        if (node.max === Infinity) {
          // L: split body, out; body; jmp L
          const split = this.emit({ op: 'split', a: 0, b: 0 });
          this.compile(node.item);
          this.emit({ op: 'jmp', to: split });
          Object.assign(this.prog[split], { a: split + 1, b: this.prog.length });
          return;
        }
        const splits: number[] = [];
        for (let k = node.min; k < node.max; k++) {
          splits.push(this.emit({ op: 'split', a: 0, b: 0 }));
          this.compile(node.item);
        }
        for (const s of splits) Object.assign(this.prog[s], { a: s + 1, b: this.prog.length });
        return;
      }
    }
  }
}

/** A compiled pattern; `fullMatch(text)` is true when the whole text matches. */
export class LinearRegex {
  private readonly prog: Instr[];

  constructor(readonly source: string) {
    const compiler = new Compiler();
    compiler.compile(new Parser(source).parse());
    compiler.emit({ op: 'match' });
    this.prog = compiler.prog;
  }

  /** Does the whole of `text` match (as Python's re.fullmatch)? */
  fullMatch(text: string): boolean {
    const chars = Array.from(text);
    let current = this.closure([0], 0, chars.length);
    for (let pos = 0; pos < chars.length && current.length; pos++) {
      const next: number[] = [];
      for (const pc of current) {
        const instr = this.prog[pc];
        if (instr.op === 'char' && instr.test(chars[pos])) next.push(pc + 1);
      }
      current = this.closure(next, pos + 1, chars.length);
    }
    return current.some((pc) => this.prog[pc].op === 'match');
  }

  /** Every instruction reachable without consuming a character: each at most once per position (the linear bound). */
  private closure(seeds: number[], pos: number, length: number): number[] {
    const seen = new Uint8Array(this.prog.length);
    const out: number[] = [];
    const stack = [...seeds].reverse();
    while (stack.length) {
      const pc = stack.pop()!;
      if (seen[pc]) continue;
      seen[pc] = 1;
      const instr = this.prog[pc];
      switch (instr.op) {
        case 'jmp':
          stack.push(instr.to);
          break;
        case 'split':
          stack.push(instr.b, instr.a);
          break;
        case 'start':
          if (pos === 0) stack.push(pc + 1);
          break;
        case 'end':
          if (pos === length) stack.push(pc + 1);
          break;
        default:
          out.push(pc);
      }
    }
    return out;
  }
}
