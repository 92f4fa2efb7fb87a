/**
 * The parameters of one model as the diff reads them: names, shapes, bytes
 * for a cheap equality test, float64 values on demand, and the PyTorch
 * module each belongs to. One implementation per file format.
 */
import { OnnxModel } from '../onnx/model';
import { isNumericType } from '../onnx/dtypes';
import { tensorDims } from '../onnx/tensors';
import { buildModuleTree, type ModuleTree } from '../graph/moduleTree';
import { GraphIndex } from '../graph/graphIndex';
import type { ITensorProto, onnx } from '../onnx/proto';
import { constantNodeWeights, subgraphInitializers } from '../graph/constantWeights';
import { nodeAddresses } from '../graph/nodeAddress';
import { SafetensorsFile, safetensorsDtypeToOnnx } from '../safetensors/safetensors';

export interface ParamInfo {
  dims: number[];
  /** ONNX data type number (safetensors dtypes are mapped to ONNX). */
  dtype: number;
}

export interface ParamSource {
  readonly path: string;
  names(): string[];
  info(name: string): ParamInfo | undefined;
  /** The stored bytes (for the equality test without converting). */
  bytes(name: string): Uint8Array;
  values(name: string): Float64Array;
  moduleOf(name: string): string | null;
  /**
   * Keys that identify a tensor's place in the model independently of its
   * name, most specific first (`node:<Constant node address>`,
   * `reader:<node address>#<input slot>`): the diff pairs tensors a re-export or
   * a fold renamed through them. Absent for formats where names are the identity.
   */
  placeKeys?(name: string): string[];
  close(): void;
}

/** `layer1.0.conv1.weight` → `layer1.0.conv1`; generated names have no module. */
export function moduleFromStateDictKey(name: string): string | null {
  const m = /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\.[A-Za-z_][A-Za-z0-9_]*$/.exec(name);
  return m ? m[1] : null;
}

/**
 * The parameters of an ONNX model: initializers (also of If/Loop bodies) and
 * the weights held in Constant nodes (graph/constantWeights.ts), numeric ones
 * only (the diff has nothing to say about strings).
 */
export class OnnxParamSource implements ParamSource {
  private readonly tensors = new Map<string, ITensorProto>();
  /** Constant-node weights: value name → the node's address. */
  private readonly constantNodes = new Map<string, string>();
  private tree: ModuleTree | undefined;
  private addresses: Map<onnx.INodeProto, string> | undefined;
  readonly index: GraphIndex;

  constructor(readonly model: OnnxModel) {
    for (const t of [...(model.graph.initializer ?? []), ...subgraphInitializers(model.graph)]) {
      if (t.name && !this.tensors.has(t.name)) this.tensors.set(t.name, t);
    }
    for (const c of constantNodeWeights(model.graph)) {
      if (this.tensors.has(c.name)) continue;
      this.tensors.set(c.name, c.tensor);
      this.constantNodes.set(c.name, c.address);
    }
    this.index = new GraphIndex(model.graph);
  }

  static open(path: string): OnnxParamSource {
    return new OnnxParamSource(OnnxModel.load(path));
  }

  get path(): string {
    return this.model.path;
  }

  names(): string[] {
    return [...this.tensors.keys()].filter((n) => isNumericType(this.tensors.get(n)!.data_type ?? 0));
  }

  info(name: string): ParamInfo | undefined {
    const t = this.tensors.get(name);
    return t ? { dims: tensorDims(t), dtype: t.data_type ?? 0 } : undefined;
  }

  bytes(name: string): Uint8Array {
    return this.model.tensorBytes(this.tensor(name));
  }

  values(name: string): Float64Array {
    return this.model.tensorValues(this.tensor(name));
  }

  tensorProto(name: string): ITensorProto | undefined {
    return this.tensors.get(name);
  }

  /** The state-dict module when the name is one, else the module of the first node reading it. */
  moduleOf(name: string): string | null {
    const fromKey = moduleFromStateDictKey(name);
    if (fromKey) return fromKey;
    this.tree ??= buildModuleTree(this.model, this.index);
    const reader = this.index.consumersOf(name)[0]?.node;
    return reader ? this.tree.moduleOf(reader.name ?? '') : null;
  }

  placeKeys(name: string): string[] {
    const keys: string[] = [];
    const constantNode = this.constantNodes.get(name);
    if (constantNode !== undefined) keys.push(`node:${constantNode}`);
    const readers = this.index.consumersOf(name);
    if (readers.length === 1) {
      this.addresses ??= nodeAddresses(this.model.graph.node ?? []);
      const address = this.addresses.get(readers[0].node);
      if (address !== undefined) keys.push(`reader:${address}#${readers[0].slot}`);
    }
    return keys;
  }

  close(): void {
    this.model.close();
  }

  private tensor(name: string): ITensorProto {
    const t = this.tensors.get(name);
    if (!t) throw new RangeError(`no parameter '${name}' in ${this.model.path}`);
    return t;
  }
}

export class SafetensorsParamSource implements ParamSource {
  constructor(readonly file: SafetensorsFile) {}

  static open(path: string): SafetensorsParamSource {
    return new SafetensorsParamSource(SafetensorsFile.open(path));
  }

  get path(): string {
    return this.file.path;
  }

  names(): string[] {
    return this.file.names();
  }

  info(name: string): ParamInfo | undefined {
    if (!this.file.entries.has(name)) return undefined;
    const e = this.file.get(name);
    return { dims: [...e.shape], dtype: safetensorsDtypeToOnnx(e.dtype) };
  }

  bytes(name: string): Uint8Array {
    return this.file.readBytes(name);
  }

  values(name: string): Float64Array {
    return this.file.readFloat64(name);
  }

  moduleOf(name: string): string | null {
    return moduleFromStateDictKey(name);
  }

  close(): void {
    this.file.close();
  }
}

/** Opens a model or weights file by extension. */
export function openParamSource(path: string): ParamSource {
  return /\.safetensors$/i.test(path) ? SafetensorsParamSource.open(path) : OnnxParamSource.open(path);
}
