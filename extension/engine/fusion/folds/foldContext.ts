/**
 * What a fold works with: the model being fused, an index of its graph kept
 * up to date through every edit, and the few edit primitives folds need
 * (read a constant, write a tensor, remove a node, hand an output over,
 * replace a node). Each primitive also writes the journal the fold returns,
 * so the diff view can show exactly which tensors changed and how.
 *
 * A fold validates everything before its first edit and refuses with
 * `refuse(reason)` (a FoldRefusal) — so a refused candidate leaves the graph
 * untouched and is reported as skipped with that reason.
 */
import type { Candidate, PatternName } from '../candidate';
import type { OnnxModel } from '../../onnx/model';
import { GraphIndex } from '../../graph/graphIndex';
import { NameAllocator } from '../../graph/cleanup';
import { nodeAddresses } from '../../graph/nodeAddress';
import { DataType, onnx, toNumber, type INodeProto, type ITensorProto } from '../../onnx/proto';
import { dtypeName, float64ToBytes, isFloatType } from '../../onnx/dtypes';
import { isExternal, makeTensor, tensorDims } from '../../onnx/tensors';
import { Ranks } from '../ranks';
import { arrayCells, deferredFloat32Cells, float32Cells, type FloatCells } from './floatCells';
import { lazyRawDataLength } from '../../onnx/lazyRawData';
import { firstNonFinite } from './finiteCheck';
import { ModelFuseError } from '../../errors';

/** A candidate the fold will not apply, with the reason the user sees. */
export class FoldRefusal extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'FoldRefusal';
  }
}

export function refuse(reason: string): never {
  throw new FoldRefusal(reason);
}

export interface TensorInfo {
  name: string;
  dims: number[];
  dtype: string;
}

/**
 * How a changed tensor was stored:
 * - `overwritten`: same name, new values written over the old bytes in memory (the tensor had one reader);
 * - `replaced`: same name, a new tensor (the old one was stored in typed fields or external data);
 * - `copied`: the old tensor has other readers, so this node now reads a copy with a new name;
 * - `added`: there was no tensor (a Conv without bias gets one).
 */
export type TensorStorage = 'overwritten' | 'replaced' | 'copied' | 'added';

export interface ChangedTensor {
  /** What the tensor is for the node, e.g. 'weight', 'bias'. */
  role: string;
  /** The node that reads it after the fold. */
  node: string;
  before: TensorInfo | null;
  after: TensorInfo;
  storage: TensorStorage;
}

export interface FoldResult {
  changedTensors: ChangedTensor[];
  /** Nodes the fold removed (their work now happens inside another node). */
  removedNodes: string[];
  /** Nodes the fold created (e.g. a Gemm replacing MatMul + Add). */
  addedNodes: string[];
}

/** One exact fold. Register it in folds/index.ts; fuse looks folds up by pattern. */
export interface Fold {
  /** The candidate patterns this fold applies. */
  readonly patterns: readonly PatternName[];
  /** Applies the fold or throws a FoldRefusal before changing anything. Returns `ctx.takeJournal()`. */
  apply(ctx: FoldContext, candidate: Candidate): FoldResult;
}

/** A constant tensor a fold reads (an initializer or a Constant node's value). */
export interface ConstantValue {
  /** The value name in the graph. */
  name: string;
  tensor: ITensorProto;
  dims: number[];
  dtype: number;
  /** The values as float64 (read on demand: external data is read from disk here). */
  values(): Float64Array;
}

export interface FoldContextOptions {
  /**
   * Write new values over the old bytes of a tensor that only the folded node
   * reads, instead of allocating a second copy. The in-memory model then holds
   * the fused weights (the file on disk is never touched). Default true: it
   * keeps peak memory near the model's size.
   */
  overwriteBuffers?: boolean;
}

export class FoldContext {
  readonly index: GraphIndex;
  readonly names: NameAllocator;
  /** Ranks known from declared shapes and simple propagation (the same ones scan uses). */
  readonly ranks: Ranks;
  /** Nodes removed by folds; cleanup drops them from graph.node. */
  readonly removedNodes = new Set<INodeProto>();
  /** Values some node stopped reading: cleanup removes them if nothing else does. */
  readonly released = new Set<string>();
  private readonly byName = new Map<string, INodeProto[]>();
  private readonly addresses: Map<INodeProto, string>;
  private readonly overwrite: boolean;
  private journal: FoldResult = emptyJournal();

  constructor(readonly model: OnnxModel, options: FoldContextOptions = {}) {
    this.index = new GraphIndex(model.graph);
    this.names = new NameAllocator(model.graph);
    this.ranks = new Ranks(model.graph, this.index);
    this.overwrite = options.overwriteBuffers ?? true;
    // The addresses scan gave the candidates: names, or `Conv#3` for unnamed / duplicate-named nodes.
    this.addresses = nodeAddresses(model.graph.node ?? []);
    for (const [n, address] of this.addresses) this.addByName(n, address);
  }

  get graph(): onnx.GraphProto {
    return this.model.graph;
  }

  /** Returns the edits recorded since the last call and starts a new journal. */
  takeJournal(): FoldResult {
    const j = this.journal;
    this.journal = emptyJournal();
    return j;
  }

  // ---- reading ----

  /** The live node called `name`; refuses when it is gone (folded already), unknown or ambiguous. */
  node(name: string): INodeProto {
    const found = (this.byName.get(name) ?? []).filter((n) => !this.removedNodes.has(n));
    if (found.length === 1) return found[0];
    if (found.length > 1) refuse(`node name '${name}' is not unique in the graph`);
    if (this.byName.has(name)) refuse(`node '${name}' was already folded away by another candidate`);
    refuse(`node '${name}' does not exist in the graph`);
  }

  /** How the candidate names `node` (graph/nodeAddress.ts); a node a fold created goes by its name. */
  addressOf(node: INodeProto): string {
    return this.addresses.get(node) ?? node.name ?? '';
  }

  /** The candidate's nodes, checked against the op_types the fold expects at each position. */
  candidateNodes(candidate: Candidate, expected: readonly (readonly string[])[]): INodeProto[] {
    if (candidate.nodes.length !== expected.length) {
      refuse(`expected ${expected.length} nodes (${expected.map((e) => e.join('/')).join(' → ')}), got ${candidate.nodes.length}`);
    }
    return candidate.nodes.map((name, i) => {
      const n = this.node(name);
      if ((n.domain ?? '') !== '' && n.domain !== 'ai.onnx') refuse(`node '${name}' is in domain '${n.domain}', not the ONNX domain`);
      if (!expected[i].includes(n.op_type ?? '')) refuse(`node '${name}' is ${n.op_type}, expected ${expected[i].join(' or ')}`);
      return n;
    });
  }

  /** The constant behind a value, or a refusal naming what it is instead. */
  constant(value: string | null | undefined, what: string): ConstantValue {
    if (!value) refuse(`${what} is missing`);
    const tensor = this.index.constantTensor(value);
    if (!tensor) {
      if (this.index.initializers.has(value)) refuse(`${what} '${value}' is a graph input with a default: callers may override it at run time`);
      refuse(`${what} '${value}' is not a constant (it is computed at run time)`);
    }
    const dims = tensorDims(tensor);
    const dtype = tensor.data_type ?? 0;
    if (!isFloatType(dtype)) refuse(`${what} '${value}' is ${dtypeName(dtype)}; folds compute only with float32/float64/float16/bfloat16 tensors`);
    return { name: value, tensor, dims, dtype, values: () => floatValues(this.model, tensor) };
  }

  /** Refuses unless `value` is read by `reader` alone (no other node, not a graph output, not a subgraph). */
  requireSoleReader(value: string, reader: INodeProto, what: string): void {
    if (this.index.soleConsumer(value) === reader) return;
    const others: string[] = [];
    for (const c of this.index.consumersOf(value)) if (c.node !== reader) others.push(`node '${this.addressOf(c.node)}'`);
    if (this.index.graphOutputs.has(value)) others.push('a graph output');
    if (this.index.usedBySubgraphs.has(value)) others.push('a subgraph');
    refuse(`${what} '${value}' is also read by ${others.length ? others.join(', ') : 'another input of the same node'}; folding would change what they see`);
  }

  // ---- editing (call only after every check has passed) ----

  /**
   * Gives `node` new values for its input `slot`, rounded once to `dtype`.
   * A tensor only this node reads is updated under its own name; a shared one
   * is copied to a new name (`<old>_fused`) so the other readers keep the old
   * values; a missing input gets a new tensor named `nameForNew` (made unique).
   */
  writeTensor(
    node: INodeProto,
    slot: number,
    role: string,
    dtype: number,
    dims: readonly number[],
    values: ArrayLike<number>,
    nameForNew: string,
  ): ChangedTensor {
    if (values.length !== dims.reduce((a, b) => a * b, 1)) makeTensor(nameForNew, dtype, dims, values); // throws, explaining the mismatch
    return this.writeBytes(node, slot, role, dtype, dims, floatBytes(values, dtype), nameForNew);
  }

  /** writeTensor with the values already encoded as `dtype` (little-endian); `bytes` becomes the tensor's raw_data or is copied over it. */
  private writeBytes(
    node: INodeProto,
    slot: number,
    role: string,
    dtype: number,
    dims: readonly number[],
    bytes: Uint8Array,
    nameForNew: string,
  ): ChangedTensor {
    const current = (node.input ?? [])[slot] || '';
    const nodeLabel = this.addressOf(node);
    const after = (name: string): TensorInfo => ({ name, dims: [...dims], dtype: dtypeName(dtype) });
    const init = current ? this.index.initializers.get(current) : undefined;
    const before = current ? this.describe(current) : null;
    const tensor = (name: string): onnx.TensorProto => onnx.TensorProto.create({ name, data_type: dtype, dims: [...dims], raw_data: bytes });
    this.assertFinite(bytes, dtype, node, role, current || nameForNew);

    if (init && this.isSoleReader(current, node)) {
      const sameLayout = (init.data_type ?? 0) === dtype && sameDims(tensorDims(init), dims);
      if (this.overwrite && sameLayout && !isExternal(init) && init.raw_data && init.raw_data.length === bytes.length && bytes.length > 0) {
        init.raw_data.set(bytes);
        return this.record({ role, node: nodeLabel, before, after: after(current), storage: 'overwritten' });
      }
      const replacement = tensor(current);
      const list = this.graph.initializer;
      list[list.indexOf(init as onnx.TensorProto)] = replacement;
      this.index.initializers.set(current, replacement);
      return this.record({ role, node: nodeLabel, before, after: after(current), storage: 'replaced' });
    }

    const name = this.names.take(current ? `${current}_fused` : nameForNew);
    this.addInitializer(tensor(name));
    this.setInput(node, slot, name);
    return this.record({ role, node: nodeLabel, before, after: after(name), storage: current ? 'copied' : 'added' });
  }

  /**
   * Changes the values of the constant `source` that `node` reads at input
   * `slot`, with the same storage rules as writeTensor (a shared tensor is
   * copied first). `mutate` scales the values in place through FloatCells
   * (floatCells.ts): each product is computed in float64 and rounded once to
   * the tensor's type. A float32 weight is edited as stored: when only this
   * node reads it, directly in the loaded bytes (aligned or not: no copy, no
   * float64 array the size of the weight); otherwise in one fresh copy of its
   * bytes, which becomes the new tensor's raw_data. Other types go through
   * float64 values and are rounded once when written.
   */
  updateTensor(node: INodeProto, slot: number, role: string, source: ConstantValue, mutate: (cells: FloatCells) => void, nameForNew: string): ChangedTensor {
    if (source.dtype !== DataType.FLOAT) {
      const values = source.values();
      mutate(arrayCells(values));
      return this.writeTensor(node, slot, role, source.dtype, source.dims, values, nameForNew);
    }
    const init = this.overwritableInitializer(node, slot);
    if (init && init === source.tensor) {
      // Still in the model file: the scaling is applied while the save copies it (never read here), and checked for
      // Inf/NaN there; a payload in memory is checked now.
      const deferred = deferredFloat32Cells(init, (at) => this.nonFinite(node, role, source.name, source.dtype, at));
      mutate(deferred ?? float32Cells(init.raw_data!));
      if (!deferred) this.assertFinite(init.raw_data!, source.dtype, node, role, source.name);
      return this.record({ role, node: this.addressOf(node), before: this.describe(source.name), after: { name: source.name, dims: [...source.dims], dtype: dtypeName(source.dtype) }, storage: 'overwritten' });
    }
    // External data is read into a fresh buffer (ExternalDataReader.read), ours to edit; embedded bytes belong to the loaded model.
    const stored = this.model.tensorBytes(source.tensor);
    const bytes = isExternal(source.tensor) ? stored : Uint8Array.from(stored);
    mutate(float32Cells(bytes));
    return this.writeBytes(node, slot, role, source.dtype, source.dims, bytes, nameForNew);
  }

  /**
   * A fold result with Inf or NaN is never written. The graph may already be
   * edited in place at this point, so the whole fuse stops (nothing is
   * written), naming the node and the tensor; it is the input's values, not a
   * defect, so exit code 2.
   */
  private assertFinite(bytes: Uint8Array, dtype: number, node: INodeProto, role: string, tensorName: string): void {
    const at = firstNonFinite(bytes, dtype);
    if (at >= 0) throw this.nonFinite(node, role, tensorName, dtype, at);
  }

  private nonFinite(node: INodeProto, role: string, tensorName: string, dtype: number, at: number): ModelFuseError {
    return new ModelFuseError(
      `${this.model.path}: folding into '${this.addressOf(node)}' would write Inf or NaN into its ${role} '${tensorName}' (element ${at}, ${dtypeName(dtype)}): ` +
        'the folded values do not fit the type (e.g. a huge BatchNorm scale or a tiny variance); nothing was written',
    );
  }

  /** The embedded float initializer at `node`'s input `slot` if this node alone reads it and overwriting is allowed. */
  private overwritableInitializer(node: INodeProto, slot: number): ITensorProto | undefined {
    const current = (node.input ?? [])[slot] || '';
    const init = current ? this.index.initializers.get(current) : undefined;
    if (!init || !this.overwrite || isExternal(init)) return undefined;
    // A payload still in the file is asked its length: touching raw_data would read it.
    if ((lazyRawDataLength(init) ?? init.raw_data?.length ?? 0) === 0) return undefined;
    if (!this.isSoleReader(current, node)) return undefined;
    return init;
  }

  private isSoleReader(value: string, node: INodeProto): boolean {
    return (
      this.index.useCount(value) === 1 &&
      this.index.consumersOf(value)[0]?.node === node &&
      !this.index.graphInputs.has(value) &&
      !(this.graph.input ?? []).some((i) => i.name === value)
    );
  }

  /** Points input `slot` of `node` at `value` (padding skipped optional inputs with ''). */
  setInput(node: INodeProto, slot: number, value: string): void {
    const inputs = (node.input ??= []);
    while (inputs.length <= slot) inputs.push('');
    const old = inputs[slot];
    if (old) {
      this.dropConsumer(old, node, slot);
      this.released.add(old);
    }
    inputs[slot] = value;
    if (value) this.addConsumer(value, node, slot);
  }

  /** Removes a node from the graph; the values it read become candidates for cleanup. */
  removeNode(node: INodeProto): void {
    if (this.removedNodes.has(node)) return;
    (node.input ?? []).forEach((v, slot) => {
      if (!v) return;
      this.dropConsumer(v, node, slot);
      this.released.add(v);
    });
    for (const o of node.output ?? []) {
      if (this.index.producer.get(o) === node) this.index.producer.delete(o);
      this.index.constantNodes.delete(o);
    }
    this.removedNodes.add(node);
    this.journal.removedNodes.push(this.addressOf(node));
  }

  /**
   * `node` now produces `value` (the output of a node just removed), so every
   * reader of that value — including a graph output of that name — reads the
   * fused result without being rewired. The node's old output disappears.
   */
  takeOverOutput(node: INodeProto, slot: number, value: string): void {
    const old = (node.output ?? [])[slot];
    if (old && this.index.producer.get(old) === node) this.index.producer.delete(old);
    (node.output ??= [])[slot] = value;
    this.index.producer.set(value, node);
  }

  /** Puts `added` where `replaced` stood in the node list (keeping topological order) and removes `replaced`. */
  replaceNode(replaced: INodeProto, added: onnx.NodeProto): void {
    const list = this.graph.node;
    const at = list.indexOf(replaced as onnx.NodeProto);
    if (at < 0) throw new Error(`internal: node '${replaced.name}' is not in the graph`);
    for (const o of replaced.output ?? []) if (this.index.producer.get(o) === replaced) this.index.producer.delete(o);
    this.removeNode(replaced);
    list.splice(at, 0, added);
    (added.input ?? []).forEach((v, slot) => v && this.addConsumer(v, added, slot));
    for (const o of added.output ?? []) if (o) this.index.producer.set(o, added);
    this.addByName(added);
    this.journal.addedNodes.push(added.name ?? '');
  }

  /** A fresh node name derived from `base`. */
  nodeName(base: string): string {
    return this.names.take(base);
  }

  /** Records a tensor change a fold made by other means (e.g. a new node reading an existing tensor). */
  record(change: ChangedTensor): ChangedTensor {
    this.journal.changedTensors.push(change);
    return change;
  }

  describe(value: string): TensorInfo | null {
    const t = this.index.initializers.get(value) ?? this.index.constantTensor(value);
    return t ? { name: value, dims: tensorDims(t), dtype: dtypeName(t.data_type ?? 0) } : null;
  }

  private addInitializer(t: onnx.TensorProto): void {
    this.graph.initializer.push(t);
    this.index.initializers.set(t.name, t);
    // IR < 4 requires every initializer to be listed among the graph inputs too.
    if (toNumber(this.model.proto.ir_version) < 4) {
      this.graph.input.push(onnx.ValueInfoProto.create({
        name: t.name,
        type: { tensor_type: { elem_type: t.data_type, shape: { dim: t.dims.map((d) => ({ dim_value: d })) } } },
      }));
    }
  }

  private addConsumer(value: string, node: INodeProto, slot: number): void {
    let list = this.index.consumers.get(value);
    if (!list) this.index.consumers.set(value, (list = []));
    list.push({ node, slot });
  }

  private dropConsumer(value: string, node: INodeProto, slot: number): void {
    const list = this.index.consumers.get(value);
    if (!list) return;
    const i = list.findIndex((c) => c.node === node && c.slot === slot);
    if (i >= 0) list.splice(i, 1);
  }

  private addByName(n: INodeProto, address = n.name ?? ''): void {
    if (!address) return;
    const list = this.byName.get(address);
    if (list) list.push(n);
    else this.byName.set(address, [n]);
  }
}

/*
 * Fast paths for the common float32/float64 weights: typed-array conversions
 * are native loops, several times faster than per-element DataView calls on a
 * 100 MB model. They round exactly like dtypes.ts (IEEE round-to-nearest-even,
 * once); float16/bfloat16, and any type on a big-endian machine (ONNX
 * stores little-endian), go through dtypes.ts.
 */
const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function floatValues(model: OnnxModel, t: ITensorProto): Float64Array {
  const dtype = t.data_type ?? 0;
  if (!NATIVE_LITTLE_ENDIAN || (dtype !== DataType.FLOAT && dtype !== DataType.DOUBLE)) return model.tensorValues(t);
  const bytes = model.tensorBytes(t);
  const size = dtype === DataType.FLOAT ? 4 : 8;
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // protobuf views may start anywhere
  const count = aligned.byteLength / size;
  if (dtype === DataType.DOUBLE) return new Float64Array(aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + aligned.byteLength));
  return new Float64Array(new Float32Array(aligned.buffer, aligned.byteOffset, count));
}

function floatBytes(values: ArrayLike<number>, dtype: number): Uint8Array {
  if (!NATIVE_LITTLE_ENDIAN) return float64ToBytes(values, dtype);
  if (dtype === DataType.FLOAT) return new Uint8Array(new Float32Array(values).buffer);
  if (dtype === DataType.DOUBLE) return new Uint8Array(new Float64Array(values).buffer);
  return float64ToBytes(values, dtype);
}

function emptyJournal(): FoldResult {
  return { changedTensors: [], removedNodes: [], addedNodes: [] };
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * A tensor name for a new bias: `conv1.weight` → `conv1.bias` (PyTorch's
 * naming); else the module's `<module>.bias` when scan recovered it (an
 * exporter-named `onnx::MatMul_30` weight of module `fc3` → `fc3.bias`); else
 * `<weight>_bias`. NameAllocator makes it unique.
 */
export function biasNameFor(weightName: string, module?: string | null): string {
  if (weightName.endsWith('.weight')) return `${weightName.slice(0, -'.weight'.length)}.bias`;
  return module ? `${module}.bias` : `${weightName}_bias`;
}
