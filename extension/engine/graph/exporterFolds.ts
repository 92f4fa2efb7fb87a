/**
 * BatchNorms the exporter already folded into the Conv before them.
 *
 * `torch.onnx.export(model.eval(), x, f)` with its defaults (TorchScript,
 * training=EVAL, constant folding on) folds every Conv → BatchNormalization
 * pair at export time (torch's ONNX eval peephole): the BatchNorm node is gone
 * and the Conv reads two new constants, `onnx::Conv_585` (weight) and
 * `onnx::Conv_586` (bias), in place of its parameters, while every parameter
 * the exporter did not compute keeps its state-dict name (`fc.weight`). The
 * eager model still has the BatchNorm: a `fuse_modules` group [conv, relu]
 * read off such a file would put the ReLU before it and silently change the
 * model. (The dynamo exporter's folds carry the BatchNorm's scope in the
 * node's metadata and are read by the module tree.)
 *
 * Which BatchNorm it was cannot be read from the file. The model's own state
 * dict tells it exactly: the exported weight is the checkpoint's Conv weight
 * scaled per output channel by γ/√(σ²+ε) of exactly one BatchNorm, and the
 * exported bias is (b − μ)·γ/√(σ²+ε) + β. resolveFoldedBatchNorms checks
 * every BatchNorm of the checkpoint with that many channels against the
 * numbers and names the one that fits (ε is fitted, so eps=1e-3 layers are
 * found too); none or several fitting is said, not guessed.
 */
import type { OnnxModel } from '../onnx/model';
import type { onnx } from '../onnx/proto';
import { isFloatType } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import type { GraphIndex } from './graphIndex';
import { dynamoScope, STATE_DICT_KEY, torchScriptScope } from './scopes';

/** The name torch's ONNX eval peephole gives the constants it computes for a folded Conv. */
const EXPORTER_COMPUTED_CONV_CONSTANT = /^onnx::Conv_\d+$/;

export interface ExporterFoldedConv {
  /** The Conv node (its address). */
  node: string;
  /** The initializer the exporter computed for the weight (`onnx::Conv_193`). */
  weight: string;
  bias: string | null;
  /**
   * 'folded': other parameters keep their state-dict names, so a generated
   * Conv weight was computed by the exporter; 'possibly-folded': the file
   * names no parameter at all, so it cannot tell.
   */
  certainty: 'folded' | 'possibly-folded';
  /** The BatchNorm module the checkpoint identified, once resolved. */
  batchNorm: string | null;
  /** What the checkpoint said: the fit that named the BatchNorm, or why none was named. */
  resolution: string | null;
}

/**
 * Convs of a TorchScript export whose weight the exporter computed. Keyed by
 * node address. Empty for other exporters (their generated names mean
 * nothing about BatchNorm) and for dynamo exports (metadata says it).
 */
export function findExporterFoldedConvs(model: OnnxModel, index: GraphIndex, addresses: Map<onnx.INodeProto, string>): Map<string, ExporterFoldedConv> {
  const out = new Map<string, ExporterFoldedConv>();
  const nodes = model.graph.node ?? [];
  if ((model.proto.producer_name ?? '') !== 'pytorch') return out;
  if (nodes.some((n) => dynamoScope(n))) return out;
  const namesParameters = (model.graph.initializer ?? []).some((t) => isFloatType(t.data_type ?? 0) && STATE_DICT_KEY.test(t.name ?? ''));
  for (const node of nodes) {
    if (node.op_type !== 'Conv' || (node.domain ?? '') !== '') continue;
    const weight = storedInitializer(node.input?.[1] ?? '', index);
    if (!weight || !EXPORTER_COMPUTED_CONV_CONSTANT.test(weight)) continue;
    // Only TorchScript-scoped Convs are judged: the exporter that folds names its nodes this way.
    if (!torchScriptScope(node.name ?? '') && namesParameters === false) continue;
    const bias = node.input?.[2] ? storedInitializer(node.input[2], index) ?? null : null;
    out.set(addresses.get(node) ?? node.name ?? '', {
      node: addresses.get(node) ?? node.name ?? '', weight, bias,
      certainty: namesParameters ? 'folded' : 'possibly-folded', batchNorm: null, resolution: null,
    });
  }
  return out;
}

/** The initializer behind a value, through the exporter's de-duplicating Identity nodes. */
function storedInitializer(value: string, index: GraphIndex): string | undefined {
  let v = value;
  for (let hops = 0; hops < 4 && v; hops++) {
    if (index.initializers.has(v)) return v;
    const p = index.producer.get(v);
    if (!p || p.op_type !== 'Identity') return undefined;
    v = p.input?.[0] ?? '';
  }
  return undefined;
}

/** The few things read from a PyTorch state dict (a .safetensors checkpoint, single or sharded). */
export interface StateDictReader {
  /** Where it came from, for messages. */
  readonly path: string;
  names(): string[];
  shape(name: string): number[] | undefined;
  values(name: string): Float64Array;
}

/**
 * Names the BatchNorm of each folded Conv from the model's state dict (see
 * the file comment). `convModule` gives the Conv's module path (from its
 * scope). Fills `batchNorm` and `resolution` in place.
 */
export function resolveFoldedBatchNorms(
  model: OnnxModel,
  index: GraphIndex,
  folded: Map<string, ExporterFoldedConv>,
  convModule: (node: string) => string | null,
  checkpoint: StateDictReader,
): void {
  const batchNorms = checkpointBatchNorms(checkpoint);
  const taken = new Map<string, string>();
  for (const f of folded.values()) {
    const conv = convModule(f.node);
    const convWeight = conv ? `${conv}.weight` : '';
    const convShape = conv ? checkpoint.shape(convWeight) : undefined;
    const exported = index.initializers.get(f.weight);
    if (!conv || !convShape || !exported) {
      f.resolution = conv ? `${checkpoint.path} has no '${convWeight}'` : 'the Conv has no module path to look up in the checkpoint';
      continue;
    }
    const dims = tensorDims(exported);
    if (dims.join(',') !== convShape.join(',')) {
      f.resolution = `'${convWeight}' in ${checkpoint.path} is [${convShape.join(', ')}], the exported weight [${dims.join(', ')}]`;
      continue;
    }
    const fit = new ChannelScale(checkpoint.values(convWeight), model.tensorValues(exported), dims[0]);
    if (!fit.ok) {
      f.resolution = `the exported weight is not '${convWeight}' scaled per output channel: no BatchNorm was folded into it`;
      continue;
    }
    const convBias = checkpoint.shape(`${conv}.bias`) ? checkpoint.values(`${conv}.bias`) : undefined;
    const exportedBias = f.bias && index.initializers.get(f.bias) ? model.tensorValues(index.initializers.get(f.bias)!) : undefined;
    const fits = batchNorms.filter((bn) => bn.channels === dims[0]).filter((bn) => matchesBatchNorm(fit.scale, exportedBias, convBias, bn.read()));
    if (fits.length === 1) {
      const bn = fits[0].path;
      const other = taken.get(bn);
      f.batchNorm = bn;
      f.resolution = other
        ? `'${bn}' also fits '${other}': a BatchNorm called twice`
        : `'${convWeight}' scaled by γ/√(σ²+ε) of '${bn}' in ${checkpoint.path} gives the exported weight and bias`;
      taken.set(bn, f.node);
    } else {
      f.resolution = fits.length === 0
        ? `no BatchNorm with ${dims[0]} channels in ${checkpoint.path} gives the exported weight`
        : `${fits.length} BatchNorms in ${checkpoint.path} give the exported weight equally well (${fits.slice(0, 3).map((b) => `'${b.path}'`).join(', ')}): equal statistics cannot be told apart`;
    }
  }
}

interface CheckpointBatchNorm {
  path: string;
  channels: number;
  read(): { gamma: Float64Array | null; beta: Float64Array | null; mean: Float64Array; variance: Float64Array };
}

function checkpointBatchNorms(checkpoint: StateDictReader): CheckpointBatchNorm[] {
  const out: CheckpointBatchNorm[] = [];
  for (const name of checkpoint.names()) {
    if (!name.endsWith('.running_var')) continue;
    const path = name.slice(0, -'.running_var'.length);
    const shape = checkpoint.shape(name);
    if (!shape || shape.length !== 1 || !checkpoint.shape(`${path}.running_mean`)) continue;
    let cached: ReturnType<CheckpointBatchNorm['read']> | undefined;
    const opt = (key: string): Float64Array | null => (checkpoint.shape(key) ? checkpoint.values(key) : null);
    out.push({
      path,
      channels: shape[0],
      read: () => (cached ??= { gamma: opt(`${path}.weight`), beta: opt(`${path}.bias`), mean: checkpoint.values(`${path}.running_mean`), variance: checkpoint.values(name) }),
    });
  }
  return out;
}

/** The per-output-channel factor r with exported = r · original, by least squares, and whether it explains every element. */
class ChannelScale {
  readonly scale: Float64Array;
  readonly ok: boolean;
  constructor(original: Float64Array, exported: Float64Array, channels: number) {
    this.scale = new Float64Array(channels).fill(NaN);
    const per = original.length / channels;
    let ok = original.length === exported.length && Number.isInteger(per);
    for (let c = 0; ok && c < channels; c++) {
      let oo = 0;
      let oe = 0;
      let maxAbs = 0;
      for (let i = c * per; i < (c + 1) * per; i++) {
        oo += original[i] * original[i];
        oe += original[i] * exported[i];
        maxAbs = Math.max(maxAbs, Math.abs(exported[i]));
      }
      if (oo === 0) continue; // an all-zero filter scales to anything
      const r = oe / oo;
      for (let i = c * per; ok && i < (c + 1) * per; i++) ok = Math.abs(exported[i] - r * original[i]) <= 1e-4 * maxAbs + 1e-7;
      this.scale[c] = r;
    }
    this.ok = ok;
  }
}

/** Does this BatchNorm explain the per-channel scale (for some ε in [0, 0.1]) and, where exported, the bias? */
function matchesBatchNorm(
  scale: Float64Array,
  exportedBias: Float64Array | undefined,
  convBias: Float64Array | undefined,
  bn: { gamma: Float64Array | null; beta: Float64Array | null; mean: Float64Array; variance: Float64Array },
): boolean {
  const gamma = (c: number): number => bn.gamma?.[c] ?? 1;
  const eps: number[] = [];
  for (let c = 0; c < scale.length; c++) {
    if (!Number.isFinite(scale[c]) || scale[c] === 0) continue;
    eps.push((gamma(c) / scale[c]) ** 2 - bn.variance[c]);
  }
  if (eps.length === 0) return false;
  eps.sort((a, b) => a - b);
  const e = Math.min(0.1, Math.max(0, eps[eps.length >> 1]));
  for (let c = 0; c < scale.length; c++) {
    const r = gamma(c) / Math.sqrt(bn.variance[c] + e);
    if (Number.isFinite(scale[c]) && Math.abs(scale[c] - r) > 1e-4 * Math.abs(r) + 1e-6) return false;
    if (exportedBias) {
      const b = ((convBias?.[c] ?? 0) - bn.mean[c]) * r + (bn.beta?.[c] ?? 0);
      if (Math.abs(exportedBias[c] - b) > 1e-4 * (Math.abs(b) + Math.abs(bn.mean[c] * r)) + 1e-6) return false;
    }
  }
  return true;
}
