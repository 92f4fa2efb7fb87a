/**
 * Fuzzing the loader and scan in-process: thousands of seeded mutations of
 * the fixture models (bit flips, truncations, inserted bytes, overwritten
 * varints). Every outcome must be a successful scan or a ModelFuseError — any
 * other exception is a crash a user would see as "internal error". A run that
 * hangs fails by the test runner's timeout.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ModelFuseError } from '../../../extension/engine/errors';
import { onnx } from '../../../extension/engine/onnx/proto';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel } from '../../../extension/engine/fusion/scan';
import { buildFuseList } from '../../../extension/engine/fusion/fuseList';
import { fixture, FUSION_CASES } from '../helpers/fixtures';
import { mulberry32 } from '../helpers/random';
import { encodeModel, makeAttribute, makeMetadata, makeNode, makeValueInfo } from '../helpers/onnxBuilder';

const MODELS = [...FUSION_CASES.map((c) => fixture(c, 'model.onnx')), fixture('lora_linear_qv', 'base.onnx'), fixture('lora_conv', 'peft_unmerged.onnx')];
const PER_MODEL = 1000;

const rng = mulberry32;

function mutate(src: Buffer, r: () => number): { bytes: Buffer; how: string } {
  const pos = Math.floor(r() * src.length);
  switch (Math.floor(r() * 4)) {
    case 0: {
      const b = Buffer.from(src);
      const flips = 1 + Math.floor(r() * 8);
      for (let i = 0; i < flips; i++) {
        const p = Math.floor(r() * b.length);
        b[p] ^= 1 << Math.floor(r() * 8);
      }
      return { bytes: b, how: `${flips} bit flips` };
    }
    case 1:
      return { bytes: src.subarray(0, pos), how: `truncated at ${pos}` };
    case 2: {
      const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256)));
      return { bytes: Buffer.concat([src.subarray(0, pos), ins, src.subarray(pos)]), how: `${ins.length} bytes inserted at ${pos}` };
    }
    default: {
      // A large varint where a length or number was: the classic absurd-length attack.
      const big = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
      return { bytes: Buffer.concat([src.subarray(0, pos), big, src.subarray(Math.min(src.length, pos + 1))]), how: `big varint at ${pos}` };
    }
  }
}

test(`fuzz: ${MODELS.length * PER_MODEL} mutated models load and scan, or fail with a ModelFuseError`, () => {
  let ok = 0;
  let refused = 0;
  for (const [mi, file] of MODELS.entries()) {
    const src = fs.readFileSync(file);
    const r = rng(1000 + mi);
    for (let i = 0; i < PER_MODEL; i++) {
      const { bytes, how } = mutate(src, r);
      let model: OnnxModel | undefined;
      try {
        model = OnnxModel.fromBytes(file, bytes);
        const analysis = analyzeModel(model);
        buildFuseList(analysis);
        JSON.stringify(analysis.scan);
        JSON.stringify(analysis.tree);
        ok++;
      } catch (err) {
        if (!(err instanceof ModelFuseError)) {
          assert.fail(`${file}, mutation ${i} (${how}): ${err instanceof Error ? err.stack : String(err)}`);
        }
        assert.doesNotMatch(err.message, /\n/, 'one line');
        refused++;
      } finally {
        model?.close();
      }
    }
  }
  console.log(`fuzz: ${ok} scanned, ${refused} refused`);
  // Both outcomes must actually occur, or the mutations are not testing anything.
  assert.ok(ok > 100 && refused > 100, `ok ${ok}, refused ${refused}`);
});

const OPS = ['Conv', 'ConvTranspose', 'BatchNormalization', 'Relu', 'Gemm', 'MatMul', 'Add', 'Mul', 'Identity', 'Constant'];
const SCOPES = ["['', 'bn1', 'x']", "['']", "[", "['', \"L['self'].a[0]\", 'y']", "['', 'a@1', 'b@2', 'z']", 'garbage', "['\\', '']"];

/** One structural edit of a decoded model: the graph stays decodable, but its wiring, ops and names become odd. */
function editGraph(m: onnx.ModelProto, r: () => number): string {
  const g = m.graph!;
  const nodes = g.node!;
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const values = [...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]), ...g.initializer!.map((t) => t.name ?? ''), ''];
  const n = pick(nodes);
  switch (Math.floor(r() * 9)) {
    case 0: n.op_type = pick(OPS); return `op of ${n.name} → ${n.op_type}`;
    case 1: if (n.input?.length) n.input[Math.floor(r() * n.input.length)] = pick(values); return `rewired an input of ${n.name}`;
    case 2: n.name = pick([pick(nodes).name ?? '', '', '/a/b_1/c', '/x//y', '/']); return `renamed ${n.op_type}`;
    case 3: g.initializer!.splice(Math.floor(r() * g.initializer!.length), 1); return 'dropped an initializer';
    case 4: g.output!.push(makeValueInfo(pick(values), null)); return 'extra graph output';
    case 5: n.attribute = [...(n.attribute ?? []), makeAttribute(pick(['training_mode', 'group', 'transB', 'spatial', 'epsilon']), Math.floor(r() * 5) - 1)]; return 'attribute';
    case 6: n.metadata_props = makeMetadata({ 'pkg.torch.onnx.name_scopes': pick(SCOPES), 'pkg.torch.onnx.class_hierarchy': pick(SCOPES), namespace: pick([': a/b: torch.nn.modules.batchnorm.BatchNorm2d/c: d', '/', ': ']) }); return 'metadata';
    case 7: n.output = [pick(values)]; return `output of ${n.name} renamed`;
    default: {
      const at = Math.floor(r() * nodes.length);
      const name = `/${pick(['relu', 'conv1', 'x'])}/Op`; // drawn in the order the edit always drew them: name, op, inputs, output
      const op = pick(OPS);
      const inputs = [pick(values), pick(values)];
      nodes.splice(at, 0, makeNode(op, inputs, [pick(values)], name));
      return 'inserted a node';
    }
  }
}

test('fuzz: 1500 structurally edited models (ops, wiring, names, metadata) scan or fail with a ModelFuseError', () => {
  const sources = MODELS.map((f) => ({ file: f, bytes: fs.readFileSync(f) }));
  const r = rng(77);
  for (let i = 0; i < 1500; i++) {
    const { file, bytes } = sources[i % sources.length];
    const m = onnx.ModelProto.decode(bytes);
    const edits = Array.from({ length: 1 + Math.floor(r() * 4) }, () => editGraph(m, r));
    let model: OnnxModel | undefined;
    try {
      model = OnnxModel.fromBytes(file, Buffer.from(encodeModel(m)));
      const analysis = analyzeModel(model);
      buildFuseList(analysis);
      JSON.stringify(analysis.tree);
    } catch (err) {
      if (!(err instanceof ModelFuseError)) assert.fail(`${file}, edit ${i} (${edits.join('; ')}): ${err instanceof Error ? err.stack : String(err)}`);
    } finally {
      model?.close();
    }
  }
});
