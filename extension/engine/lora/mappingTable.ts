/**
 * The key mapping as an editable table, for front ends that let a user pair
 * adapter modules with base tensors by hand (the VS Code mapping editor): one
 * row per adapter module with its current pairing (or why there is none), the
 * evidence, and every base tensor whose shape fits the module's delta — the
 * only tensors a `--map` entry could name without a shape error. The choices
 * are saved as the `--map` file that `buildPlan` reads (mappingFile.ts).
 */
import { deltaKindOf, fmtShape, naturalCompare, torchWeightShape, type ModuleRequest } from './targetTypes';
import type { LoraPlan } from './plan';
import type { AdapterModule } from './adapterFormats';
import type { MappingCandidate, MappingRow } from './mappingTypes';
export * from './mappingTypes';
import { isLeftOutByMap } from '../remedy';

const MAX_CANDIDATES = 200;

/** The table for a plan (built with or without a `--map` file): unmatched modules first, then matched, each in natural order. */
export function mappingTable(plan: LoraPlan): MappingRow[] {
  const rows = new Map<string, MappingRow>();
  plan.adapters.forEach((adapter, adapterIndex) => {
    for (const module of adapter.modules) {
      const existing = rows.get(module.module);
      if (existing) {
        if (!existing.adapters.includes(adapter.spec)) existing.adapters.push(adapter.spec);
        continue;
      }
      const req: ModuleRequest = { id: -1, adapterIndex, module, deltaKind: deltaKindOf(module), fanInFanOut: adapter.fanInFanOut };
      const row: MappingRow = { module: module.module, adapters: [adapter.spec], kind: module.kind, deltaShape: deltaShapeOf(req), status: 'unmatched', target: null, evidence: [], candidates: [], note: null };
      const pair = plan.pairs.find((p) => p.adapterIndex === adapterIndex && p.module === module.module);
      const unmatched = plan.unmatched.find((u) => u.adapter === adapter.spec && u.module === module.module);
      if (pair) {
        row.status = 'matched';
        row.target = pair.kind === 'replace' ? (Object.values(pair.replacements ?? {})[0] ?? null) : pair.source;
        row.evidence = [...pair.evidence];
      } else if (unmatched) {
        row.status = isLeftOutByMap(unmatched.reason) ? 'left-out' : 'unmatched';
        row.evidence = [unmatched.reason];
      }
      const found = candidatesOf(req, plan);
      row.candidates = found.candidates.sort((a, b) => b.score - a.score || naturalCompare(a.target, b.target)).slice(0, MAX_CANDIDATES);
      row.note = found.note;
      rows.set(module.module, row);
    }
  });
  const order = { unmatched: 0, 'left-out': 1, matched: 2 } as const;
  return [...rows.values()].sort((a, b) => order[a.status] - order[b.status] || naturalCompare(a.module, b.module));
}

function deltaShapeOf(req: ModuleRequest): number[] | null {
  const single = singleReplacement(req.module);
  if (req.module.kind === 'replace') return single ? single.shape : null;
  return torchWeightShape(req) ?? null;
}

function singleReplacement(m: AdapterModule): { param: string; shape: number[] } | null {
  const params = Object.entries(m.replacements ?? {});
  return params.length === 1 ? { param: params[0][0], shape: params[0][1].shape } : null;
}

type Found = { candidates: MappingCandidate[]; note: string | null };

/** The base's tensors that fit the module (its one replaced tensor, or its delta), scored by name. */
function candidatesOf(req: ModuleRequest, plan: LoraPlan): Found {
  const single = singleReplacement(req.module);
  if (req.module.kind === 'replace' && !single) return { candidates: [], note: 'replaces several tensors (modules_to_save): it is paired by parameter name only' };
  const candidates = plan.base.fittingTensors(req, single?.shape ?? null).map(({ names, ...t }) => ({
    ...t,
    score: Math.max(...names.map((n) => nameScore(req.module.module, n))),
  }));
  return { candidates, note: candidates.length ? null : noneFits(req) };
}

function noneFits(req: ModuleRequest): string {
  const shape = req.module.kind === 'replace' ? singleReplacement(req.module)?.shape : torchWeightShape(req);
  return `no base tensor has the shape of this module's ${req.module.kind === 'replace' ? 'tensor' : 'delta'}${shape ? ` ${fmtShape(shape)}` : ''}`;
}

/**
 * How alike a module path and a tensor name are: shared parts of the path
 * (`layers.0.attn.q_proj` and `blocks.0.attention.query.weight` share the
 * layer number and, by prefix, `attn`/`q`). A layer number counts double: two
 * layers of one model differ only there. Underscores split too (`q_proj`, kohya's names).
 */
export function nameScore(module: string, name: string): number {
  const parts = (s: string) => s.toLowerCase().split(/[._/:\s-]+/).filter(Boolean);
  const theirs = parts(name);
  let score = 0;
  for (const p of parts(module)) {
    if (/^\d+$/.test(p)) score += theirs.includes(p) ? 2 : 0;
    else if (theirs.includes(p)) score += 1;
    else if (theirs.some((t) => !/^\d+$/.test(t) && (t.startsWith(p) || p.startsWith(t)))) score += 0.5;
  }
  return score;
}
