/**
 * A transformer-shaped ONNX graph of any size for the graph-view bench,
 * named the way the TorchScript exporter names a decoder stack
 * (`/layers/layers.3/self_attn/q_proj/MatMul`, `layers.3.self_attn.q_proj.weight`):
 * 50 nodes per layer (two decomposed LayerNorms, attention with
 * Reshape/Transpose/Softmax, an erf-GELU MLP, residual Adds), so 200 layers
 * are 10,000 nodes. Weights are tiny (the bench measures the graph, not the
 * bytes); Reshape shapes are Constant nodes, as the exporter writes them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, type onnx } from '../../extension/engine/onnx/proto';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue } from '../unit/helpers/onnxBuilder';

const D = 8;

export function generateTransformer(dir: string, layers: number): { onnxPath: string; nodes: number } {
  fs.mkdirSync(dir, { recursive: true });
  const nodes: onnx.NodeProto[] = [];
  const inits: onnx.TensorProto[] = [];
  let counter = 0;
  const node = (op: string, scope: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string => {
    const out = `${scope}/${op}_output_${counter++}`;
    nodes.push(makeNode(op, inputs, [out], `${scope}/${op}_${counter}`, attrs));
    return out;
  };
  const weight = (name: string, dims: number[]): string => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, (_, i) => Math.sin(i + inits.length) / D);
    inits.push(makeTensor(name, DataType.FLOAT, dims, values));
    return name;
  };
  const constant = (scope: string, values: number[]): string => {
    const out = `${scope}/Constant_output_${counter++}`;
    // The exporter writes Reshape shapes as Constant nodes with typed int64 fields.
    const value = makeTensor('', DataType.INT64, [values.length], values, { raw: false });
    nodes.push(makeNode('Constant', [], [out], `${scope}/Constant_${counter}`, { value: { tensor: value } }));
    return out;
  };
  const linear = (scope: string, key: string, x: string): string => node('Add', scope, [node('MatMul', scope, [x, weight(`${key}.weight`, [D, D])]), weight(`${key}.bias`, [D])]);
  const layerNorm = (scope: string, key: string, x: string): string => {
    const mean = node('ReduceMean', scope, [x], { axes: [-1] });
    const centred = node('Sub', scope, [x, mean]);
    const sq = node('Pow', scope, [centred, weight(`${key}.two`, [])]);
    const variance = node('ReduceMean', scope, [sq], { axes: [-1] });
    const std = node('Sqrt', scope, [node('Add', scope, [variance, weight(`${key}.eps`, [])])]);
    return node('Add', scope, [node('Mul', scope, [node('Div', scope, [centred, std]), weight(`${key}.weight`, [D])]), weight(`${key}.bias`, [D])]);
  };

  let x = 'input';
  for (let l = 0; l < layers; l++) {
    const s = `/layers/layers.${l}`;
    const k = `layers.${l}`;
    const h = layerNorm(`${s}/input_layernorm`, `${k}.input_layernorm`, x);
    const heads = (v: string) => node('Transpose', `${s}/self_attn`, [node('Reshape', `${s}/self_attn`, [v, constant(`${s}/self_attn`, [1, -1, 2, D / 2])])]);
    const q = heads(linear(`${s}/self_attn/q_proj`, `${k}.self_attn.q_proj`, h));
    const kk = heads(linear(`${s}/self_attn/k_proj`, `${k}.self_attn.k_proj`, h));
    const v = heads(linear(`${s}/self_attn/v_proj`, `${k}.self_attn.v_proj`, h));
    const scores = node('Softmax', `${s}/self_attn`, [node('Div', `${s}/self_attn`, [node('MatMul', `${s}/self_attn`, [q, kk]), weight(`${k}.self_attn.scale`, [])])]);
    const ctx = node('Reshape', `${s}/self_attn`, [node('Transpose', `${s}/self_attn`, [node('MatMul', `${s}/self_attn`, [scores, v])]), constant(`${s}/self_attn`, [1, -1, D])]);
    const attn = linear(`${s}/self_attn/o_proj`, `${k}.self_attn.o_proj`, ctx);
    x = node('Add', s, [x, attn]);
    const h2 = layerNorm(`${s}/post_attention_layernorm`, `${k}.post_attention_layernorm`, x);
    const up = linear(`${s}/mlp/fc1`, `${k}.mlp.fc1`, h2);
    const gelu = node('Mul', `${s}/mlp/act`, [node('Mul', `${s}/mlp/act`, [up, node('Add', `${s}/mlp/act`, [node('Erf', `${s}/mlp/act`, [node('Div', `${s}/mlp/act`, [up, weight(`${k}.mlp.act.sqrt2`, [])])]), weight(`${k}.mlp.act.one`, [])])]), weight(`${k}.mlp.act.half`, [])]);
    x = node('Add', s, [x, linear(`${s}/mlp/fc2`, `${k}.mlp.fc2`, gelu)]);
  }
  const vi = (name: string) => makeValueInfo(name, DataType.FLOAT, [1, 'seq', D]);
  nodes.push(makeNode('Identity', [x], ['output'], '/norm/Identity'));
  const graph = makeGraph(nodes, 'main_graph', [vi('input')], [vi('output')], inits);
  const model = makeModel(graph, { producerName: 'pytorch', producerVersion: '2.11.0 (modelfuse bench generator)' });
  const onnxPath = path.join(dir, `transformer-${layers}.onnx`);
  fs.writeFileSync(onnxPath, encodeModel(model));
  return { onnxPath, nodes: nodes.length };
}
