/**
 * Linear layers in ONNX: Gemm (Y = alpha·A·op(B) + beta·C, op = transpose
 * when transB=1) or MatMul with a [in, out] weight (plus an optional bias
 * Add). Helpers to scale their output features and to build the Gemm that
 * replaces a 2-D MatMul (+ Add).
 */
import { AttributeType, onnx, type INodeProto } from '../../onnx/proto';
import type { ConstantValue, FoldContext } from './foldContext';
import { refuse } from './foldContext';
import type { FloatCells } from './floatCells';

/** Multiplies output feature n of a 2-D weight by scale[n]; `outAxis` is 0 for [out, in], 1 for [in, out]. */
export function scaleLinearWeight(w: FloatCells, dims: readonly number[], outAxis: 0 | 1, scale: Float64Array): void {
  if (scale.length !== dims[outAxis]) throw new Error(`internal: ${scale.length} factors for ${dims[outAxis]} output features`);
  if (w.length === 0) return;
  if (outAxis === 0) w.scaleRuns(dims[1], scale);
  else w.scaleTiled(scale);
}

/**
 * Refuses unless the MatMul's input is known to be 2-D: only then is it a
 * Gemm, and only then is the feature axis BN's channel axis (axis 1).
 */
export function requireMatrixInput(ctx: FoldContext, matmul: INodeProto): void {
  const value = matmul.input?.[0] ?? '';
  const rank = ctx.ranks.rankOf(value);
  if (rank === 2) return;
  const which = `'${value}', the input of MatMul '${matmul.name}',`;
  if (rank === undefined) refuse(`cannot tell whether ${which} is 2-D (the model declares no shape for it); this fold is exact only for 2-D inputs`);
  refuse(`${which} is ${rank}-D; this fold is exact only for 2-D inputs`);
}

/** A constant [in, out] MatMul weight. */
export function matmulWeight(ctx: FoldContext, matmul: INodeProto): ConstantValue {
  const w = ctx.constant(matmul.input?.[1], `MatMul '${matmul.name}' weight`);
  if (w.dims.length !== 2) refuse(`MatMul '${matmul.name}' weight '${w.name}' has shape [${w.dims.join(', ')}]; expected a 2-D [in, out] matrix`);
  return w;
}

/** Which input of a two-input node is `value`, and the other one. */
export function otherOperand(node: INodeProto, value: string): string {
  const inputs = node.input ?? [];
  if (inputs.length !== 2) refuse(`'${node.name}' does not have two inputs`);
  if (inputs[0] === value && inputs[1] !== value) return inputs[1];
  if (inputs[1] === value && inputs[0] !== value) return inputs[0];
  refuse(`'${node.name}' does not read '${value}' exactly once`);
}

/** The node name for a Gemm replacing a MatMul: `/fc/MatMul` → `/fc/Gemm` (what the exporter writes for 2-D Linear layers). */
export function gemmNodeName(ctx: FoldContext, matmul: INodeProto): string {
  const base = matmul.name || 'Gemm';
  return ctx.nodeName(base.endsWith('MatMul') ? `${base.slice(0, -'MatMul'.length)}Gemm` : `${base}_gemm`);
}

export function makeGemm(name: string, a: string, b: string, c: string, output: string): onnx.NodeProto {
  return onnx.NodeProto.create({ name, op_type: 'Gemm', domain: '', input: [a, b, c], output: [output], attribute: [] });
}

/** Sets a float attribute, replacing an existing one of that name. */
export function setFloatAttribute(node: INodeProto, name: string, value: number): void {
  const attrs = (node.attribute ??= []);
  const existing = attrs.find((a) => a.name === name);
  if (existing) {
    existing.f = value;
    existing.type = AttributeType.FLOAT;
  } else {
    attrs.push(onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value }));
  }
}
