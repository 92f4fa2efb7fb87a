/**
 * What `modelfuse.showDiff` accepts, checked: either a DiffRequest, or the
 * outcome of a fuse or LoRA merge as the fuse/merge commands pass it
 * (ModelChangeOutcome: the fuse report's applied folds, the merge plan's
 * pairs). Pure, so it is unit-tested without VS Code.
 */
import { ModelFuseError } from '../engine/errors';
import type { LoraLayerRecord } from '../engine/stats/paramDiffTypes';
import type { DiffRequest } from '../protocol/diffWebviewProtocol';
import type { ModelChangeOutcome } from '../protocol/extensionMethods';

export function parseDiffRequest(arg: unknown): DiffRequest {
  const r = arg as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object' || typeof r.before !== 'string' || typeof r.after !== 'string') {
    throw new ModelFuseError('modelfuse.showDiff needs the two files { before, after } (use "Compare Models…" to pick two files)');
  }
  if (r.kind === 'fuse' && r.fuse && typeof r.fuse === 'object') return fromFuseOutcome(r as unknown as Extract<ModelChangeOutcome, { kind: 'fuse' }>);
  if (r.kind === 'lora-merge') return fromMergeOutcome(r as unknown as Extract<ModelChangeOutcome, { kind: 'lora-merge' }>);
  const d = r as Partial<DiffRequest>;
  if (d.kind !== undefined && !['fuse', 'merge', 'compare'].includes(d.kind)) throw new ModelFuseError(`modelfuse.showDiff: unknown kind '${String(d.kind)}'`);
  if (d.folds !== undefined && !Array.isArray(d.folds)) throw new ModelFuseError('modelfuse.showDiff: folds must be a list');
  if (d.lora !== undefined && !Array.isArray(d.lora)) throw new ModelFuseError('modelfuse.showDiff: lora must be a list');
  return { before: d.before!, after: d.after!, kind: d.kind ?? 'compare', folds: d.folds ?? [], lora: d.lora ?? [], verify: d.verify ?? null };
}

function fromFuseOutcome(o: Extract<ModelChangeOutcome, { kind: 'fuse' }>): DiffRequest {
  return {
    before: o.before,
    after: o.after,
    kind: 'fuse',
    folds: (o.fuse.applied ?? []).map((a) => ({
      id: a.id, pattern: a.pattern, nodes: a.nodes, modules: a.modules, removedNodes: a.removedNodes,
      changedTensors: a.changedTensors.map((t) => ({
        role: t.role,
        node: t.node,
        before: t.before ? { name: t.before.name } : null,
        after: { name: t.after.name },
      })),
    })),
    lora: [],
    verify: o.verification ?? null,
  };
}

/**
 * One layer per merged base tensor. Several adapters merged into one tensor
 * add their ranks (the delta is a sum of low-rank terms); the scale shown is
 * then per adapter, joined.
 */
function fromMergeOutcome(o: Extract<ModelChangeOutcome, { kind: 'lora-merge' }>): DiffRequest {
  const byTarget = new Map<string, LoraLayerRecord & { scales: number[]; adapters: string[] }>();
  for (const p of o.plan?.pairs ?? []) {
    if (p.kind !== 'lora') continue;
    const keys = (o.merge?.merged ?? []).filter((m) => m.target === p.target && m.adapter === p.adapter).map((m) => m.key);
    const e = byTarget.get(p.target);
    if (e) {
      e.rank += p.rank;
      e.scales.push(p.scale);
      e.adapters.push(p.adapter);
      e.keys.push(...(keys.length ? keys : [p.module]));
    } else {
      byTarget.set(p.target, {
        target: p.target,
        keys: keys.length ? keys : [p.module],
        rank: p.rank,
        scale: p.scale,
        scales: [p.scale],
        adapters: [p.adapter],
      });
    }
  }
  const lora: LoraLayerRecord[] = [...byTarget.values()].map(({ scales, adapters, ...l }) => ({ ...l, scale: scales[0], adapter: [...new Set(adapters)].join(' + ') }));
  return { before: o.before, after: o.after, kind: 'merge', folds: [], lora, verify: o.verification ?? null };
}

/**
 * The panel's title: enough of each path to tell files apart — always the
 * folder of the original (two projects' `model.onnx` give two titles), and
 * as many folders as it takes when both files are named alike. The result
 * beside its original is named alone (`resnet/model.onnx → model.fused.onnx`).
 */
export function diffTitle(r: Pick<DiffRequest, 'before' | 'after' | 'kind'>): string {
  const verb = r.kind === 'fuse' ? 'Fused' : r.kind === 'merge' ? 'Merged' : 'Diff';
  const before = distinguishingTail(r.before, r.after);
  const after = parentOf(r.after) === parentOf(r.before) ? lastSegments(r.after, 1) : distinguishingTail(r.after, r.before);
  return `${verb}: ${before} → ${after}`;
}

const segments = (p: string): string[] => p.split(/[\\/]+/).filter(Boolean);
const parentOf = (p: string): string => segments(p).slice(0, -1).join('/');
const lastSegments = (p: string, n: number): string => segments(p).slice(-n).join('/');

/** The shortest tail of `p` (at least its folder and name) that differs from the tail of `other` of the same length. */
function distinguishingTail(p: string, other: string): string {
  const total = segments(p).length;
  for (let n = Math.min(2, total); n < total; n++) if (lastSegments(p, n) !== lastSegments(other, n)) return lastSegments(p, n);
  return segments(p).join('/');
}
