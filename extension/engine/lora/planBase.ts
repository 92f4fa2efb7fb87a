/**
 * The base a LoRA plan merges into, behind one interface: what the plan asks
 * of a base (match modules, resolve a `--map` target, the shape and dtype of a
 * tensor, the delta shape it expects, the tensors a mapping editor may offer)
 * is answered here once per kind, so plan, mapping table and merge never
 * branch on "ONNX or safetensors" themselves. The union keeps the handle each
 * writer needs (`model` or `store`), narrowed by `kind`.
 */
import * as path from 'node:path';
import { fileError } from '../errors';
import { OnnxModel } from '../onnx/model';
import type { ITensorProto } from '../onnx/proto';
import { dtypeName } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import { safetensorsDtypeToOnnx } from '../safetensors/safetensors';
import { findWeightUses, matchOnnx, storedDeltaShape, type WeightUse } from './onnxTargets';
import { matchSafetensors, SafetensorsBase } from './safetensorsTargets';
import { fmtShape, sameShape, torchWeightShape, type DeltaKind, type ModuleRequest, type TargetMatch, type TargetResolution } from './targetTypes';

/** A base tensor a module could be paired with by hand; `names` are what its name score is taken from. */
export interface FittingTensor {
  target: string;
  shape: number[];
  note: string;
  names: string[];
}

interface PlanBaseOps {
  readonly path: string;
  /** Pairs every request with a base tensor by the base's own evidence (names; in ONNX also the graph). */
  match(requests: readonly ModuleRequest[]): Map<number, TargetResolution>;
  /** A LoRA module paired by hand (`--map`, the mapping editor) with `target`. */
  resolveMapped(req: ModuleRequest, target: string, mapPath: string): TargetResolution;
  /** The tensor's shape; [] when the base has no such tensor. */
  shapeOf(name: string): number[];
  has(name: string): boolean;
  /** dtype name for plan output (FLOAT, FLOAT16, …). */
  dtypeOf(name: string): string;
  /** The shape the module's ΔW must have to be added to a tensor stored as the pair says. */
  expectedDelta(req: ModuleRequest, stored: { deltaKind: DeltaKind; transposed: boolean }): number[] | undefined;
  /** Said after a shape mismatch whose transpose would fit. */
  readonly transposedHint: string;
  /** Tensors whose shape fits `want` (a replacement's shape) or the module's delta. */
  fittingTensors(req: ModuleRequest, want: number[] | null): FittingTensor[];
  close(): void;
}

export interface OnnxPlanBase extends PlanBaseOps {
  readonly kind: 'onnx';
  readonly model: OnnxModel;
}

export interface SafetensorsPlanBase extends PlanBaseOps {
  readonly kind: 'safetensors';
  readonly store: SafetensorsBase;
}

export type PlanBase = OnnxPlanBase | SafetensorsPlanBase;

export function baseKindOf(p: string): 'onnx' | 'safetensors' {
  const lower = p.toLowerCase();
  if (lower.endsWith('.onnx')) return 'onnx';
  if (lower.endsWith('.safetensors') || lower.endsWith('.safetensors.index.json') || lower.endsWith('.index.json')) return 'safetensors';
  throw fileError(p, 'base must be .onnx, .safetensors or a sharded model.safetensors.index.json');
}

export function openPlanBase(p: string): PlanBase {
  return baseKindOf(p) === 'onnx' ? onnxPlanBase(OnnxModel.load(p)) : safetensorsPlanBase(SafetensorsBase.open(p));
}

/** The initializer holding a value (through Identity nodes). */
export function initializerBehind(model: OnnxModel, value: string): ITensorProto | undefined {
  const inits = new Map((model.graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  let v = value;
  for (let hops = 0; hops < 8; hops++) {
    const t = inits.get(v);
    if (t) return t;
    const p = (model.graph.node ?? []).find((n) => n.output?.includes(v));
    if (!p || p.op_type !== 'Identity') return undefined;
    v = p.input?.[0] ?? '';
  }
  return undefined;
}

/** dtype name of a safetensors dtype string, for plan output. */
export function planDtype(d: string): string {
  try {
    return dtypeName(safetensorsDtypeToOnnx(d));
  } catch {
    return d;
  }
}

function onnxPlanBase(model: OnnxModel): OnnxPlanBase {
  let uses: WeightUse[] | undefined;
  const allUses = (): WeightUse[] => (uses ??= findWeightUses(model));
  return {
    kind: 'onnx',
    model,
    path: model.path,
    match: (requests) => matchOnnx(model, requests),
    resolveMapped(req, target, mapPath) {
      const hits = allUses().filter((u) => u.value === target || u.initializer === target);
      if (hits.length === 0) throw fileError(mapPath, `'${target}' is not a weight read by a MatMul, Gemm, Conv or Gather node of ${model.path}`);
      if (new Set(hits.map((u) => u.transposed)).size > 1) throw fileError(mapPath, `'${target}' is read both as [out, in] and transposed; map the module to a tensor with one layout`);
      const u = hits[0];
      const others = allUses().filter((o) => o.initializer === u.initializer && !hits.includes(o));
      const match: TargetMatch = {
        target: u.value, shape: u.shape, transposed: u.transposed, bias: u.bias, node: u.nodeName,
        evidence: [[{ term: 'mapped-by-hand', file: path.basename(mapPath) }], `${u.node.op_type} '${u.nodeName}' reads it${u.transposed ? ' transposed' : ''}`],
      };
      if (others.length) match.sharedWith = others.map((o) => o.nodeName);
      return { match };
    },
    shapeOf(name) {
      const t = initializerBehind(model, name);
      return t ? tensorDims(t) : [];
    },
    has: (name) => initializerBehind(model, name) !== undefined,
    dtypeOf: (name) => dtypeName(initializerBehind(model, name)?.data_type ?? 0),
    expectedDelta: (req, stored) => storedDeltaShape(req, { kind: stored.deltaKind === 'conv' ? 'conv' : 'linear', transposed: stored.transposed }),
    // An ONNX weight's layout is read from the node, so a transposed fit is not the adapter's fault.
    transposedHint: '',
    fittingTensors(req, want) {
      const byValue = new Map<string, FittingTensor>();
      for (const u of allUses()) {
        const fits = want ? sameShape(want, u.shape) : sameShape(storedDeltaShape(req, { kind: u.kind, transposed: u.transposed }) ?? [], u.shape);
        if (!fits || byValue.has(u.value)) continue;
        byValue.set(u.value, {
          target: u.value, shape: u.shape, note: `${u.node.op_type} '${u.nodeName}' reads it${u.transposed ? ' transposed' : ''}`,
          names: [u.value, u.initializer, u.nodeName, ...u.names.map((n) => n.module)],
        });
      }
      return [...byValue.values()];
    },
    close: () => model.close(),
  };
}

function safetensorsPlanBase(store: SafetensorsBase): SafetensorsPlanBase {
  return {
    kind: 'safetensors',
    store,
    path: store.path,
    match: (requests) => matchSafetensors(store, requests),
    resolveMapped(req, target, mapPath) {
      const info = store.tensors.get(target);
      if (!info) throw fileError(mapPath, `'${target}' is not a tensor of ${store.path}`);
      const mod = target.replace(/\.[^.]+$/, '');
      const bias = store.tensors.has(`${mod}.bias`) && mod !== target ? `${mod}.bias` : undefined;
      return { match: { target, shape: info.shape, transposed: req.deltaKind === 'linear' && req.fanInFanOut, bias, evidence: [[{ term: 'mapped-by-hand', file: path.basename(mapPath) }]] } };
    },
    shapeOf: (name) => store.tensors.get(name)?.shape ?? [],
    has: (name) => store.tensors.has(name),
    dtypeOf: (name) => planDtype(store.tensors.get(name)?.dtype ?? ''),
    expectedDelta: (req) => torchWeightShape(req),
    // A state dict holds PyTorch's [out, in]: a transposed fit means the adapter's layout flag is off.
    transposedHint: ' (it looks transposed: is fan_in_fan_out missing from the adapter config?)',
    fittingTensors(req, want) {
      const shape = want ?? torchWeightShape(req);
      if (!shape) return [];
      return [...store.tensors.values()]
        .filter((t) => sameShape(t.shape, shape))
        .map((t) => ({ target: t.name, shape: t.shape, note: `${t.dtype} ${fmtShape(t.shape)}`, names: [t.name] }));
    },
    close: () => store.close(),
  };
}
