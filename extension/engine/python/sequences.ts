/**
 * Turns the data flow of `forward` into fuse_modules groups: follows each
 * call's output to the one call that consumes it, matches the layer types
 * against what fuse_modules supports (longest first), and refuses any group
 * with a module that is called more than once, inside a loop, or used
 * outside a call — fuse_modules replaces all but the first module of a group
 * with nn.Identity, so such a group silently changes the model.
 */
import type { PatternName } from '../fusion/candidate';
import type { ModuleDecl, PyClass } from './classes';
import type { CallEvent, ForwardFlow } from './forwardFlow';
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
}

/** How Python code refers to a module path: `self.features[0]` for `features.0`. */
export function selfExpression(path: string): string {
  if (path === '') return 'self';
  return 'self' + path.split('.').map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
}

export function findSequences(cls: PyClass, flow: ForwardFlow): SequenceResult {
  const callsOf = new Map<string, CallEvent[]>();
  for (const e of flow.events) callsOf.set(e.module, [...(callsOf.get(e.module) ?? []), e]);

  const sharedModules: PySharedModule[] = [];
  for (const [module, calls] of callsOf) {
    const inLoop = calls.some((c) => c.inLoop);
    if (calls.length > 1 || inLoop) sharedModules.push({ module, calls: calls.length, lines: [...new Set(calls.map((c) => c.line))], inLoop });
  }

  const whyUnsafe = (module: string): string | null => {
    const calls = callsOf.get(module) ?? [];
    const expr = selfExpression(module);
    if (calls.length > 1) {
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
  for (const start of flow.events) {
    if (consumed.has(start) || !typeOf(start)) continue;
    const chain: CallEvent[] = [start];
    while (chain.length < MAX_SEQUENCE_LENGTH) {
      const n = next.get(chain[chain.length - 1]);
      if (!n || consumed.has(n) || !typeOf(n)) break;
      chain.push(n);
    }
    let reportedUnsafe = false;
    for (let len = chain.length; len >= 2; len--) {
      const group = chain.slice(0, len);
      const pattern = fusablePattern(group.map((e) => typeOf(e)!));
      if (!pattern) continue;
      const modules = group.map((e) => e.module);
      const lines = { start: Math.min(...group.map((e) => e.line)), end: Math.max(...group.map((e) => e.line)) };
      const reasons = modules.map(whyUnsafe).filter((r): r is string => r !== null);
      if (reasons.length > 0) {
        if (!reportedUnsafe) unsafe.push({ pattern, modules, lines, reason: reasons.join('; ') });
        reportedUnsafe = true;
        continue;
      }
      const decls = modules.map((m) => cls.decls.get(m) as ModuleDecl);
      sequences.push({
        pattern,
        modules,
        lines,
        initLines: decls.map((d) => d.line),
        assumptions: [...new Set(decls.map((d) => d.assumption).filter((a): a is string => !!a))],
      });
      for (const e of group) consumed.add(e);
      break;
    }
  }
  return { sequences, unsafe, sharedModules };
}
