/**
 * Turns the data flow of `forward` into fuse_modules groups: follows each
 * call's output to the one call that consumes it, matches the layer types
 * against what fuse_modules supports (longest first), and refuses any group
 * with a module that is called more than once, inside a loop, or used
 * outside a call — fuse_modules replaces all but the first module of a group
 * with nn.Identity, so such a group silently changes the model.
 */
import type { PatternName } from '../fusion/candidate';
import type { ModuleDecl, ModuleGuard, PyClass, PyNote } from './classes';
import { exclusive, type CallEvent, type ForwardFlow } from './forwardFlow';
import { fusablePattern, layerType, MAX_SEQUENCE_LENGTH, type LayerType } from './layers';

export interface LineRange {
  /** 0-based, inclusive. */
  start: number;
  end: number;
}

export interface PySequence {
  pattern: PatternName;
  /** Paths relative to the class, as fuse_modules takes them. */
  modules: string[];
  /** Lines of the calls in forward (0-based). */
  lines: LineRange;
  /** Lines where the modules are created in __init__ (0-based, same order as modules). */
  initLines: number[];
  /** E.g. "assumes norm_layer is its default nn.BatchNorm2d". */
  assumptions: string[];
  /** For a group found inside a submodule whose class is defined in the same file: that submodule's path. */
  viaChild?: string;
  /**
   * Conditions for the group to exist: the module at `path` is there (created under an `if`), or the
   * nn.Sequential at `path` has `length` children (built differently per branch).
   */
  guards?: ModuleGuard[];
}

export interface PyUnsafeSequence {
  pattern: PatternName;
  modules: string[];
  lines: LineRange;
  reason: string;
}

export interface PySharedModule {
  module: string;
  calls: number;
  /** Lines of the calls (0-based). */
  lines: number[];
  inLoop: boolean;
}

export interface SequenceResult {
  sequences: PySequence[];
  unsafe: PyUnsafeSequence[];
  sharedModules: PySharedModule[];
  /** Near misses and modules forward calls whose layers are unknown, in the user's words. */
  notes: PyNote[];
}

/** Activations fuse_modules cannot fuse, which people expect it to (torchvision swaps ReLU6 for ReLU first). */
const NOT_FUSABLE_ACTIVATIONS = new Set(['ReLU6', 'Hardswish', 'Hardsigmoid', 'SiLU', 'GELU', 'LeakyReLU', 'Hardtanh', 'Sigmoid', 'Tanh', 'Mish', 'ELU', 'PReLU']);

/** How Python code refers to a module path: `self.features[0]` for `features.0`. */
export function selfExpression(path: string): string {
  if (path === '') return 'self';
  return 'self' + path.split('.').map((p) => (/^-?\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
}

export function findSequences(cls: PyClass, flow: ForwardFlow): SequenceResult {
  const callsOf = new Map<string, CallEvent[]>();
  for (const e of flow.events) callsOf.set(e.module, [...(callsOf.get(e.module) ?? []), e]);

  const sharedModules: PySharedModule[] = [];
  // Calls in different branches of one `if` (`return x + self.conv(x)` / `return self.conv(x)`) run once per forward.
  const reused = (calls: CallEvent[]) => calls.some((a, i) => calls.slice(i + 1).some((b) => !exclusive(a, b)));
  for (const [module, calls] of callsOf) {
    const inLoop = calls.some((c) => c.inLoop);
    if (reused(calls) || inLoop) sharedModules.push({ module, calls: calls.length, lines: [...new Set(calls.map((c) => c.line))], inLoop });
  }

  const whyUnsafe = (module: string): string | null => {
    const calls = callsOf.get(module) ?? [];
    const expr = selfExpression(module);
    if (reused(calls)) {
      return `${expr} is called ${calls.length} times in forward (lines ${[...new Set(calls.map((c) => c.line + 1))].join(', ')}); fuse_modules would change it at every call`;
    }
    if (calls.some((c) => c.inLoop)) return `${expr} is called inside a loop in forward`;
    const side = flow.sideReferences.find((r) => r.module === module);
    if (side) return `${expr} is also used outside a call (line ${side.line + 1}: ${side.text})`;
    return null;
  };

  const typeOf = (e: CallEvent): LayerType | null => {
    const d = cls.decls.get(e.module);
    return d?.origin === 'torch.nn' && d.className ? layerType(d.className) : null;
  };

  // The consumer of each call's output, when it is the output's only use and the consumer's only input.
  const next = new Map<CallEvent, CallEvent>();
  for (const e of flow.events) {
    if (flow.uses[e.output] !== 1) continue;
    const consumer = flow.events.find((c) => !c.extraArgs && c.inputs.length === 1 && c.inputs[0] === e.output);
    if (consumer) next.set(e, consumer);
  }

  const sequences: PySequence[] = [];
  const unsafe: PyUnsafeSequence[] = [];
  const consumed = new Set<CallEvent>();
  // Calls already named in a trap: a shorter trap inside it (bn+relu of conv+bn+relu) says nothing new.
  const inTrap = new Set<CallEvent>();
  // A module group met again (an nn.Sequential called in both branches of an if) is one group.
  const seen = new Set<string>();
  for (const start of flow.events) {
    if (consumed.has(start) || !typeOf(start)) continue;
    const chain: CallEvent[] = [start];
    while (chain.length < MAX_SEQUENCE_LENGTH) {
      const n = next.get(chain[chain.length - 1]);
      if (!n || consumed.has(n) || !typeOf(n)) break;
      chain.push(n);
    }
    let reportedUnsafe = inTrap.has(start);
    for (let len = chain.length; len >= 2; len--) {
      const group = chain.slice(0, len);
      const pattern = fusablePattern(group.map((e) => typeOf(e)!));
      if (!pattern) continue;
      const modules = group.map((e) => e.module);
      const lines = { start: Math.min(...group.map((e) => e.line)), end: Math.max(...group.map((e) => e.line)) };
      const reasons = modules.map(whyUnsafe).filter((r): r is string => r !== null);
      const key = `${reasons.length > 0}:${modules.join('\u0000')}`;
      if (reasons.length > 0) {
        if (!reportedUnsafe && !seen.has(key)) unsafe.push({ pattern, modules, lines, reason: reasons.join('; ') });
        seen.add(key);
        for (const e of group) inTrap.add(e);
        reportedUnsafe = true;
        continue;
      }
      for (const e of group) consumed.add(e);
      if (seen.has(key)) break;
      seen.add(key);
      const decls = modules.map((m) => cls.decls.get(m) as ModuleDecl);
      sequences.push({
        pattern,
        modules,
        lines,
        initLines: decls.map((d) => d.line),
        assumptions: [...new Set(decls.map((d) => d.assumption).filter((a): a is string => !!a))],
        ...(guardsOf(cls, modules).length ? { guards: guardsOf(cls, modules) } : {}),
      });
      break;
    }
  }
  return { sequences, unsafe, sharedModules, notes: [...nearMisses(cls, flow, sequences, consumed), ...unknownCalled(cls, flow)] };
}

/** The guards of the declarations on the way to the modules (`branch1` for `branch1.0`), each once. */
function guardsOf(cls: PyClass, modules: readonly string[]): ModuleGuard[] {
  const out = new Map<string, ModuleGuard>();
  for (const m of modules) {
    const parts = m.split('.');
    for (let n = 1; n <= parts.length; n++) {
      const g = cls.decls.get(parts.slice(0, n).join('.'))?.guard;
      if (g) out.set(JSON.stringify(g), g);
    }
  }
  return [...out.values()];
}

/**
 * conv+bn followed by an activation fuse_modules does not take (nn.ReLU6, F.relu): the group
 * stops short of what the user expects, so say why and what would make it fusable.
 */
function nearMisses(cls: PyClass, flow: ForwardFlow, sequences: PySequence[], consumed: Set<CallEvent>): PyNote[] {
  // Where a group could grow by an activation: after conv+bn / linear+bn groups, and after a lone
  // conv / linear / bn that is in no group.
  const ends: { modules: string[]; pattern: string | null; last: CallEvent; line: number }[] = [];
  for (const s of sequences) {
    if (s.pattern !== 'conv-bn' && s.pattern !== 'linear-bn' && s.pattern !== 'convtranspose-bn') continue;
    const last = flow.events.find((e) => e.module === s.modules[s.modules.length - 1]);
    if (last) ends.push({ modules: s.modules, pattern: s.pattern, last, line: s.lines.end });
  }
  for (const e of flow.events) {
    const d = cls.decls.get(e.module);
    const kind = d?.origin === 'torch.nn' && d.className ? layerType(d.className)?.kind : undefined;
    if (!consumed.has(e) && (kind === 'conv' || kind === 'linear' || kind === 'bn')) ends.push({ modules: [e.module], pattern: null, last: e, line: e.line });
  }
  const notes: PyNote[] = [];
  for (const { modules, pattern, last, line } of ends) {
    if (flow.uses[last.output] !== 1) continue;
    const group = modules.map(selfExpression).join(' + ');
    const offered = pattern ? `only ${pattern} is offered` : 'nothing is offered';
    const next = flow.events.find((e) => e.inputs.length === 1 && e.inputs[0] === last.output);
    const nextClass = next ? cls.decls.get(next.module)?.className : undefined;
    // A lone conv before a Sigmoid is no near miss; before ReLU6 (a ReLU to most readers) it is.
    if (next && nextClass && (pattern ? NOT_FUSABLE_ACTIVATIONS.has(nextClass) : nextClass === 'ReLU6')) {
      const swap = nextClass === 'ReLU6' ? "; torchvision's quantizable models replace ReLU6 with ReLU before fusing, which changes outputs above 6" : '';
      notes.push({ line, text: `${group} is followed by ${selfExpression(next.module)} (nn.${nextClass}): fuse_modules fuses the activation only when it is nn.ReLU, so ${offered}${swap}` });
      continue;
    }
    const functional = flow.functionalCalls.find((f) => f.input === last.output);
    if (functional) {
      notes.push({ line: functional.line, text: `${group} is followed by ${functional.name} (line ${functional.line + 1}): fuse_modules fuses only an nn.ReLU module, so ${offered}; call a \`self.relu = nn.ReLU()\` there instead and it becomes fusable (torchvision's quantizable models do this)` });
    }
  }
  return notes;
}

/** Modules forward calls whose layers the reading of __init__ could not know. */
function unknownCalled(cls: PyClass, flow: ForwardFlow): PyNote[] {
  const notes: PyNote[] = [];
  const seen = new Set<string>();
  for (const e of flow.events) {
    const d = cls.decls.get(e.module);
    if (!d || d.origin !== 'unknown' || !d.unknownWhy || seen.has(e.module)) continue;
    seen.add(e.module);
    notes.push({ line: d.line, subject: selfExpression(e.module), text: d.unknownWhy });
  }
  return notes;
}
