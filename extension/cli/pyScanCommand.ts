/**
 * `modelfuse py-scan FILE.py [--json]`: the Python analysis behind the
 * CodeLens, headless (pipelines, pre-commit checks). Per nn.Module class: the
 * fuse_modules groups, the shared-module traps, what the analysis did not
 * understand and the fuse_model() it would insert. Names imported from
 * workspace files (`from .blocks import conv3x3`) are followed from the
 * file's folder and the current directory.
 */
import * as path from 'node:path';
import { analyzePythonSource, noteText, type PyClassAnalysis, type PythonAnalysis } from '../engine/python/analyzePython';
import { fileImportReader } from '../engine/python/importFiles';
import type { CliCommand, CliIO } from './command';
import { COMMON_OPTIONS, parseArgs, requirePositionals } from './args';
import { printable } from './printable';
import { readSource } from './pythonOption';

const USAGE = 'py-scan FILE.py [--json]';

export const pyScanCommand: CliCommand = {
  name: 'py-scan',
  usage: USAGE,
  summary: 'per nn.Module class of a PyTorch file: fusible groups, shared-module traps, what was not understood, the fuse_model() to insert',
  async run(argv: string[], io: CliIO): Promise<number> {
    const args = parseArgs(argv, COMMON_OPTIONS);
    const [file] = requirePositionals(args, ['FILE.py'], USAGE);
    const analysis = await analyzePythonSource(readSource(file), undefined, fileImportReader(path.resolve(file), [process.cwd()]));
    io.out(args.flags.has('json') ? JSON.stringify(pyScanJson(file, analysis), null, 2) : formatPyScan(file, analysis));
    return 0;
  },
};


/** 1-based lines in the output, like editors and tracebacks. */
export function pyScanJson(file: string, a: PythonAnalysis): object {
  return {
    file,
    hasSyntaxErrors: a.hasSyntaxErrors,
    classes: a.classes.map((c) => ({
      name: c.name,
      line: c.line + 1,
      groups: c.sequences.map((s) => ({
        pattern: s.pattern,
        modules: s.modules,
        lines: { start: s.lines.start + 1, end: s.lines.end + 1 },
        assumptions: s.assumptions,
        ...(s.viaChild !== undefined ? { viaChild: s.viaChild } : {}),
        ...(s.guards ? { onlyWhen: s.guards } : {}),
      })),
      traps: c.unsafe.map((u) => ({ pattern: u.pattern, modules: u.modules, reason: u.reason })),
      sharedModules: c.sharedModules.map((m) => ({ module: m.module, calls: m.calls, lines: m.lines.map((l) => l + 1), inLoop: m.inLoop })),
      notUnderstood: c.notes.map((n) => ({ line: n.line + 1, text: noteText(n) })),
      definesFuseModel: c.definesFuseModel,
      fuseModel: c.fuseModelMethod,
      fuseModulesCall: c.fuseModulesCall,
    })),
  };
}

export function formatPyScan(file: string, a: PythonAnalysis): string {
  const lines = [`${printable(file)}: ${a.classes.length} nn.Module class${a.classes.length === 1 ? '' : 'es'}`];
  if (a.hasSyntaxErrors) lines.push('warning: the file has syntax errors; code near them may be missed');
  for (const c of a.classes) lines.push('', ...formatClass(c));
  return lines.join('\n');
}

function formatClass(c: PyClassAnalysis): string[] {
  const out = [`class ${printable(c.name)} (line ${c.line + 1}): ${c.sequences.length} group${c.sequences.length === 1 ? '' : 's'}`];
  for (const s of c.sequences) {
    const where = s.lines.start === s.lines.end ? `line ${s.lines.start + 1}` : `lines ${s.lines.start + 1}-${s.lines.end + 1}`;
    const extra = [...s.assumptions, ...(s.guards ?? []).map((g) => (g.length !== undefined ? `only when len(${g.path}) == ${g.length}` : `only when ${g.path} exists`))];
    out.push(`  ${s.pattern.padEnd(14)} ${printable(s.modules.join(' + '))}  (${where})${extra.length ? `; ${extra.join('; ')}` : ''}`);
  }
  for (const u of c.unsafe) out.push(`  trap: ${printable(u.modules.join(' + '))} (${u.pattern}) must not be fused: ${printable(u.reason)}`);
  for (const n of c.notes) out.push(`  note (line ${n.line + 1}): ${printable(noteText(n))}`);
  if (c.fuseModelMethod) {
    out.push(c.definesFuseModel ? '  fuse_model(): the class already defines one; it would be:' : '  fuse_model() to insert:');
    out.push(...c.fuseModelMethod.split('\n').map((l) => (l ? `  | ${l}` : '  |')));
  }
  return out;
}
