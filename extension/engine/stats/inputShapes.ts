/**
 * Concrete sizes for a model's dynamic input dimensions, chosen so that a
 * verification exercises the model: a `[?, 3, ?, ?]` image input checked at
 * 1×1 only ever shows its convolutions their padding. Each size says where
 * it came from, and the reports print that.
 *
 * In order, for each dynamic dimension:
 *  1. a shape the user gave (CLI `--shape`, the extension's per-model setting);
 *  2. the model's own declaration: a `value_info` entry for the input with a
 *     fixed size, or the same symbolic name fixed on another input; the size
 *     of a constant the input is added to or multiplied by (a positional embedding);
 *  3. conventions: the batch dimension is 1; the spatial dimensions of an
 *     image-like input (rank 3–5 floating, channels fixed or small) get the
 *     size nearest 224 (32 for volumes) that is a multiple of the model's total
 *     stride and that the shapes of the graph accept (a Flatten into a
 *     fixed-width Gemm, a Concat of two branches, a Reshape to fixed sizes);
 *     a sequence dimension of token ids gets 16, shared by every input that
 *     names the same symbol;
 *  4. otherwise 1, marked `guessed`: the extension asks the user once per model.
 */
import type { OnnxModel } from '../onnx/model';
import type { onnx } from '../onnx/proto';
import { dtypeName } from '../onnx/dtypes';
import { attrInts, GraphIndex } from '../graph/graphIndex';
import { BROADCAST, declaredDims, propagateShapes, SAME_SHAPE } from './shapePropagation';
import { tensorDims } from '../onnx/tensors';
import type { ModelInputSpec } from './inputs';
import type { DimSource, InputShapeChoice, InputShapePlan } from './inputShapeTypes';
export * from './inputShapeTypes';

const IMAGE_SIZE = 224;
const VOLUME_SIZE = 32;
const SEQUENCE_LENGTH = 16;
const FLOAT_TYPES = new Set(['float32', 'float16', 'float64', 'bfloat16']);
const INT_TYPES = new Set(['int64', 'int32']);

function isDynamic(d: number | string | null): boolean {
  return typeof d !== 'number' || d < 0;
}

export function planInputShapes(model: OnnxModel, specs: readonly ModelInputSpec[], given: Readonly<Record<string, readonly number[]>> = {}): InputShapePlan {
  const index = new GraphIndex(model.graph);
  const totalStride = cumulativeStride(model, index, specs.map((s) => s.name));
  const declared = declaredDims(model.graph);
  const symbols = symbolValues(specs, given);
  const choices = specs.map((spec) => chooseShape(spec, given[spec.name], declared.get(spec.name), constantSizes(index, spec), symbols, totalStride));
  fitSpatialSizes(model, index, choices, totalStride);
  for (const c of choices) c.how = describe(c, strideText(totalStride, c.dims.length, c.sources));
  return { inputs: choices, totalStride, guessed: choices.filter((c) => c.sources.includes('guessed')).map((c) => c.name) };
}

/** A graph's inputs as ONNX Runtime lists them (initializers listed as inputs excluded), without opening a session. */
export function graphInputSpecs(graph: onnx.IGraphProto): ModelInputSpec[] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const declared = declaredDims(graph);
  return (graph.input ?? [])
    .filter((v) => v.name && !initializers.has(v.name))
    .map((v) => ({ name: v.name!, dtype: dtypeName(v.type?.tensor_type?.elem_type ?? 0), dims: declared.get(v.name!) ?? [] }));
}

/** The concrete shapes by input name. */
export function planShapes(plan: InputShapePlan): Record<string, number[]> {
  return Object.fromEntries(plan.inputs.map((c) => [c.name, c.dims]));
}

/** Symbolic dims a given shape fixes (`batch`, `seq`): every input naming the same symbol gets the same size. */
function symbolValues(specs: readonly ModelInputSpec[], given: Readonly<Record<string, readonly number[]>>): Map<string, number> {
  const out = new Map<string, number>();
  for (const spec of specs) {
    const g = given[spec.name];
    if (!g) continue;
    spec.dims.forEach((d, i) => { if (typeof d === 'string' && d && g[i] !== undefined) out.set(d, g[i]); });
  }
  return out;
}

function chooseShape(
  spec: ModelInputSpec, given: readonly number[] | undefined, declaredHere: (number | string | null)[] | undefined,
  fromConstants: Map<number, number>, symbols: Map<string, number>, totalStride: readonly number[],
): InputShapeChoice {
  const choice: InputShapeChoice = { name: spec.name, dtype: spec.dtype, declared: spec.dims, dims: [], sources: [], how: '' };
  if (given) {
    choice.dims = [...given];
    choice.sources = given.map((_, i) => (spec.dims.length === 0 || isDynamic(spec.dims[i]) ? 'given' : 'model'));
    return choice;
  }
  const rank = spec.dims.length;
  const image = isImageLike(spec);
  spec.dims.forEach((d, i) => {
    let value: number;
    let source: DimSource;
    const fixedInValueInfo = declaredHere?.[i];
    if (!isDynamic(d)) [value, source] = [d as number, 'model'];
    else if (typeof fixedInValueInfo === 'number' && fixedInValueInfo > 0) [value, source] = [fixedInValueInfo, 'declared'];
    else if (typeof d === 'string' && d && symbols.has(d)) [value, source] = [symbols.get(d)!, 'declared'];
    else if (fromConstants.has(i)) [value, source] = [fromConstants.get(i)!, 'constant'];
    else if (i === 0 && rank >= 2) [value, source] = [1, 'batch'];
    else if (image && i >= 2) [value, source] = [spatialSize(rank === 5 ? VOLUME_SIZE : IMAGE_SIZE, strideOfAxis(totalStride, rank, i)), 'image'];
    else if (INT_TYPES.has(spec.dtype) && rank === 2 && i === 1) [value, source] = [SEQUENCE_LENGTH, 'sequence'];
    else [value, source] = [1, 'guessed'];
    if (typeof d === 'string' && d && source !== 'model' && source !== 'guessed' && !symbols.has(d)) symbols.set(d, value);
    choice.dims.push(value);
    choice.sources.push(source);
  });
  return choice;
}

/**
 * Sizes a constant imposes: an input added to (multiplied by, …) a constant
 * directly or through shape-preserving ops (a positional embedding
 * [1, 197, 768], a per-pixel mean [1, 3, 224, 224]) must match the constant
 * wherever the constant's dim is not 1. Axis of the input → size.
 */
function constantSizes(index: GraphIndex, spec: ModelInputSpec): Map<number, number> {
  const out = new Map<number, number>();
  const rank = spec.dims.length;
  let frontier = [spec.name];
  for (let depth = 0; depth < 6 && frontier.length > 0 && rank > 0; depth++) {
    const next: string[] = [];
    for (const value of frontier) {
      for (const { node } of index.consumersOf(value)) {
        const op = node.op_type ?? '';
        if (SAME_SHAPE.has(op) && node.output?.[0]) next.push(node.output[0]);
        if (!BROADCAST.has(op)) continue;
        for (const other of node.input ?? []) {
          const t = other && other !== value ? index.constantTensor(other) : undefined;
          if (!t) continue;
          const dims = tensorDims(t);
          dims.forEach((d, j) => {
            const axis = rank - dims.length + j;
            if (axis >= 0 && d > 1 && isDynamic(spec.dims[axis]) && !out.has(axis)) out.set(axis, d);
          });
        }
        if (node.output?.[0]) next.push(node.output[0]);
      }
    }
    frontier = next;
  }
  return out;
}

/** NCHW-like: a floating input of rank 3–5 whose channel dim is fixed (or small) and whose spatial dims are dynamic. */
function isImageLike(spec: ModelInputSpec): boolean {
  if (!FLOAT_TYPES.has(spec.dtype) || spec.dims.length < 3 || spec.dims.length > 5) return false;
  const channels = spec.dims[1];
  return typeof channels === 'number' && channels > 0 && channels <= 64 && spec.dims.slice(2).some(isDynamic);
}

/** The multiple of the stride nearest `target` (at least one stride). */
function spatialSize(target: number, stride: number): number {
  return Math.max(stride, Math.round(target / stride) * stride);
}

/**
 * When the graph's shapes reject the conventional size (a classifier head
 * expecting 5×5 after a stride of 4, a Reshape to fixed sizes), try the other
 * multiples of the stride, nearest 224 first, and keep the first the graph accepts.
 */
function fitSpatialSizes(model: OnnxModel, index: GraphIndex, choices: InputShapeChoice[], strides: readonly number[]): void {
  const tunable = choices.filter((c) => c.sources.includes('image'));
  if (tunable.length === 0) return;
  const sized = (c: InputShapeChoice, target: number) => c.dims.map((d, i) => (c.sources[i] === 'image' ? spatialSize(target, strideOfAxis(strides, c.dims.length, i)) : d));
  const shapesWith = (target: number) => Object.fromEntries(choices.map((c) => [c.name, sized(c, target)]));
  if (propagateShapes(model, shapesWith(IMAGE_SIZE), index).conflicts.length === 0) return;
  const step = Math.max(1, ...strides);
  const targets: number[] = [];
  for (let k = 1; k * step <= 4 * IMAGE_SIZE; k++) targets.push(k * step);
  targets.sort((a, b) => Math.abs(a - IMAGE_SIZE) - Math.abs(b - IMAGE_SIZE) || a - b);
  for (const target of targets) {
    if (propagateShapes(model, shapesWith(target), index).conflicts.length > 0) continue;
    for (const c of tunable) {
      c.dims = sized(c, target);
      c.sources = c.sources.map((s) => (s === 'image' ? 'fitted' : s));
    }
    return;
  }
}

/**
 * The largest product of Conv / pooling strides along any path from the
 * inputs, per spatial axis (upsampling divides it back): the factor an image
 * side must be a multiple of for the feature maps of an FPN-style model to
 * line up. Axes are counted from the last (width), so inputs of any rank share them.
 */
export function cumulativeStride(model: OnnxModel, index: GraphIndex, inputs: readonly string[]): number[] {
  const factor = new Map<string, number[]>(inputs.map((n) => [n, []]));
  let largest: number[] = [];
  for (const node of model.graph.node ?? []) {
    const reached = (node.input ?? []).map((v) => factor.get(v)).filter((f): f is number[] => f !== undefined);
    if (reached.length === 0) continue;
    let f = elementwiseMax(reached);
    const op = node.op_type ?? '';
    const strides = attrInts(node, 'strides');
    if ((op === 'Conv' || op === 'MaxPool' || op === 'AveragePool' || op === 'LpPool') && strides) f = combine(f, strides, (a, b) => a * b);
    else if (op === 'ConvTranspose' && strides) f = combine(f, strides, (a, b) => a / b);
    else if (op === 'Resize' || op === 'Upsample') f = combine(f, upscales(model, index, node), (a, b) => a / b);
    largest = elementwiseMax([largest, f]);
    for (const o of node.output ?? []) if (o) factor.set(o, f);
  }
  return largest.map((x) => Math.max(1, Math.round(x)));
}

/** Right-aligned (last axis = width) elementwise max of factor vectors; missing axes are 1. */
function elementwiseMax(vs: readonly number[][]): number[] {
  const n = Math.max(0, ...vs.map((v) => v.length));
  return Array.from({ length: n }, (_, i) => Math.max(...vs.map((v) => v[v.length - n + i] ?? 1)));
}

function combine(f: readonly number[], by: readonly number[], op: (a: number, b: number) => number): number[] {
  const n = Math.max(f.length, by.length);
  return Array.from({ length: n }, (_, i) => op(f[f.length - n + i] ?? 1, by[by.length - n + i] ?? 1));
}

/** The spatial scale factors of a Resize/Upsample with constant scales (none when unknown). */
function upscales(model: OnnxModel, index: GraphIndex, node: { input?: string[] | null }): number[] {
  const ins = node.input ?? [];
  const scalesName = ins.length === 2 ? ins[1] : ins[2];
  const t = scalesName ? index.constantTensor(scalesName) : undefined;
  if (!t) return [];
  return Array.from(model.tensorValues(t)).slice(2).map((x) => (x > 0 ? x : 1));
}

/** The stride of spatial axis `i` of a rank-`rank` input (axes 2…). */
export function strideOfAxis(strides: readonly number[], rank: number, i: number): number {
  const fromEnd = rank - 1 - i;
  return strides[strides.length - 1 - fromEnd] ?? 1;
}

/** "32" or "16×4" (height × width) for the axes the choice sized from the stride. */
function strideText(strides: readonly number[], rank: number, sources: readonly DimSource[]): string {
  const axes = sources.map((s, i) => [s, i] as const).filter(([s]) => s === 'image' || s === 'fitted').map(([, i]) => strideOfAxis(strides, rank, i));
  return axes.every((a) => a === axes[0]) ? String(axes[0] ?? 1) : axes.join('×');
}

function describe(c: InputShapeChoice, stride: string): string {
  const parts: string[] = [];
  const dynamic = c.sources.map((s, i) => [s, i] as const).filter(([s]) => s !== 'model');
  if (dynamic.length === 0) return 'fixed by the model';
  const bySource = (s: DimSource) => dynamic.filter(([x]) => x === s).map(([, i]) => c.dims[i]);
  if (bySource('given').length) parts.push('as given');
  if (bySource('batch').length) parts.push('batch 1');
  const image = bySource('image');
  if (image.length) parts.push(`${image.join('×')}: image input, a multiple of the total stride ${stride}`);
  const fitted = bySource('fitted');
  if (fitted.length) parts.push(`${fitted.join('×')}: image input, the size near ${IMAGE_SIZE} the model's layers accept (stride ${stride})`);
  const fromConstant = bySource('constant');
  if (fromConstant.length) parts.push(`${fromConstant.join('×')}: the size of a constant it is combined with`);
  const declared = bySource('declared');
  if (declared.length) parts.push(`${declared.join('×')} from the model's declared shapes`);
  const seq = bySource('sequence');
  if (seq.length) parts.push(`sequence length ${seq[0]}`);
  const guessed = dynamic.filter(([s]) => s === 'guessed').map(([, i]) => `dim ${i}`);
  if (guessed.length) parts.push(`${guessed.join(', ')} unknown: 1`);
  return parts.join('; ');
}
