/**
 * Graphs the way other exporters write them (tf2onnx, paddle2onnx, hand-made
 * onnx.helper graphs, PyTorch's old exporter), made with the tests' one ONNX
 * builder (../helpers/onnxBuilder).
 *
 * Deliberately low level: node names may be empty or repeated, weights may be
 * initializers, Constant nodes, graph inputs (IR < 4) or external data
 * (writeModel's `external`), because those are exactly the differences
 * between exporters the engine has to survive.
 */
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { randn } from '../fusion/helpers/build';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, roundTo, type AttrValue, type Dim } from '../helpers/onnxBuilder';

/**
 * Where a constant lives: an initializer (default), a `Constant` node with a
 * tensor (tf2onnx), a `Constant` node with `value_floats` (opset 12+, 1-D
 * float32 only), or an initializer also listed as a graph input (IR < 4).
 */
export type ConstantStorage = 'initializer' | 'constant-node' | 'constant-floats' | 'graph-input';

export interface GraphParts {
  node: onnx.NodeProto[];
  initializer: onnx.TensorProto[];
  input: onnx.ValueInfoProto[];
  output: onnx.ValueInfoProto[];
}

/** Accumulates one graph; `node()` with name '' makes an unnamed node, as onnx.helper.make_node does by default. */
export class GraphBuilder {
  readonly parts: GraphParts = { node: [], initializer: [], input: [], output: [] };
  private seed = 1;

  /**
   * @param dtype the element type of inputs, outputs and constants
   * @param roundAs round every constant to this type first (a float32 twin of a float16 model holds the same values)
   */
  constructor(readonly dtype: number = DataType.FLOAT, readonly roundAs?: number) {}

  input(name: string, dims: Dim[], dtype = this.dtype): this {
    this.parts.input.push(makeValueInfo(name, dtype, dims));
    return this;
  }

  output(name: string, dims?: Dim[], dtype = this.dtype): this {
    this.parts.output.push(makeValueInfo(name, dtype, dims));
    return this;
  }

  node(op: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): this {
    this.parts.node.push(makeNode(op, inputs, outputs, name, attrs, { domain: '' }));
    return this;
  }

  /**
   * A constant with the given values (or seeded normal values), stored as
   * `storage` says; `typed` writes onnx.helper.make_tensor's default typed
   * fields instead of raw_data. Returns its value name.
   */
  constant(
    name: string,
    dims: number[],
    opts: {
      values?: ArrayLike<number>; storage?: ConstantStorage; scale?: number; offset?: number;
      positive?: boolean; dtype?: number; nodeName?: string; typed?: boolean;
    } = {},
  ): string {
    const count = dims.reduce((a, b) => a * b, 1);
    let values: ArrayLike<number> = opts.values ?? randn(count, this.seed++, opts.scale ?? 0.5, opts.offset ?? 0);
    if (opts.positive) values = Float64Array.from(values, (v) => 0.5 + Math.abs(v));
    if (this.roundAs !== undefined) values = roundTo(values, this.roundAs);
    const dtype = opts.dtype ?? this.dtype;
    const storage = opts.storage ?? 'initializer';
    const raw = !opts.typed;
    if (storage === 'constant-node' || storage === 'constant-floats') {
      if (storage === 'constant-floats' && (dims.length !== 1 || dtype !== DataType.FLOAT)) throw new Error('value_floats holds a 1-D float32 tensor');
      const value: AttrValue = storage === 'constant-floats' ? { floats: Array.from(values) } : { tensor: makeTensor('', dtype, dims, values, { raw }) };
      const attr = storage === 'constant-floats' ? 'value_floats' : 'value';
      this.parts.node.push(makeNode('Constant', [], [name], opts.nodeName ?? '', { [attr]: value }, { domain: '' }));
    } else {
      if (!raw && ![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(dtype)) throw new Error(`typed storage for dtype ${dtype} is not needed by these tests`);
      this.parts.initializer.push(makeTensor(name, dtype, dims, values, { raw }));
      if (storage === 'graph-input') this.parts.input.push(makeValueInfo(name, dtype, dims));
    }
    return name;
  }

  /** The four BatchNormalization parameters [scale, bias, mean, var] for `c` channels, named by `names`. */
  batchNormParams(names: [string, string, string, string], c: number, storage: ConstantStorage = 'initializer', typed = false): string[] {
    return [
      this.constant(names[0], [c], { storage, typed, scale: 0.3, offset: 1 }),
      this.constant(names[1], [c], { storage, typed, scale: 0.2 }),
      this.constant(names[2], [c], { storage, typed, scale: 0.3 }),
      this.constant(names[3], [c], { storage, typed, positive: true }),
    ];
  }

  graph(name = 'main_graph'): onnx.GraphProto {
    const p = this.parts;
    return makeGraph(p.node, name, p.input, p.output, p.initializer);
  }
}

export interface ExporterModelOptions {
  opset: number;
  irVersion: number;
  producer: string;
  producerVersion?: string;
}

/** The model an exporter would write: one default-domain opset, its producer name and version. */
export function modelProto(g: GraphBuilder, o: ExporterModelOptions): onnx.ModelProto {
  return makeModel(g.graph(), { irVersion: o.irVersion, opset: o.opset, producerName: o.producer, producerVersion: o.producerVersion ?? '' });
}
