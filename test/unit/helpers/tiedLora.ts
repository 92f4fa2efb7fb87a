/** A LoRA base whose adapted weight another node reads too (tied weights), for the shared-weight tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, DataType } from '../../../extension/engine/onnx/proto';
import { makeTensor } from '../../../extension/engine/onnx/tensors';
import { rand, writePeftAdapter } from '../lora/loraTestUtils';
import { tempDir } from './fixtures';

/** x → Gemm '/l1/Gemm' and Gemm '/other/Gemm', both reading initializer 'onnx::Gemm_1' [4, 6]; a PEFT adapter for module 'l1'. */
export function tiedFixture(dir = tempDir(), names = { base: 'base.onnx', adapter: 'adapter' }): { dir: string; base: string; adapter: string } {
  const r = rand(7);
  const vi = (name: string, dims: number[]) => onnx.ValueInfoProto.create({
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: d })) } } },
  });
  const transB0 = [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 0 }];
  const g = onnx.GraphProto.create({
    name: 'g',
    node: [
      { op_type: 'Gemm', name: '/l1/Gemm', input: ['x', 'onnx::Gemm_1'], output: ['y'], attribute: transB0 },
      { op_type: 'Gemm', name: '/other/Gemm', input: ['x', 'onnx::Gemm_1'], output: ['z'], attribute: transB0 },
    ].map((n) => onnx.NodeProto.create(n)),
    initializer: [makeTensor('onnx::Gemm_1', DataType.FLOAT, [4, 6], r([4, 6]).values)],
    input: [vi('x', [2, 4])],
    output: [vi('y', [2, 6]), vi('z', [2, 6])],
  });
  const base = path.join(dir, names.base);
  fs.writeFileSync(base, onnx.ModelProto.encode(onnx.ModelProto.create({ ir_version: 8, producer_name: 'test', opset_import: [{ domain: '', version: 17 }], graph: g })).finish());
  const P = 'base_model.model.';
  const adapter = writePeftAdapter(path.join(dir, names.adapter), { r: 2, lora_alpha: 2 }, { [`${P}l1.lora_A.weight`]: r([2, 4]), [`${P}l1.lora_B.weight`]: r([6, 2]) });
  return { dir, base, adapter };
}

