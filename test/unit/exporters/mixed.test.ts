/**
 * Seeded combinations of what the exporter families differ in, mixed in one
 * model each: a Conv / grouped ConvTranspose / MatMul layer followed by a
 * chain of BatchNormalization, per-channel Add and Mul (the way tf2onnx,
 * paddle2onnx and Keras spell a BatchNorm out), weights as initializers,
 * Constant nodes, value_floats or typed fields, nodes named, unnamed or
 * repeated, opsets 11–17. Every model goes scan → fuse → ONNX Runtime and
 * must agree with the original and have nothing foldable left.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { relativeToMax } from '../fusion/helpers/numbers';
import { GraphBuilder, modelProto, type ConstantStorage } from './exporterGraph';
import { describeCandidates, feedValues, opCount, runOrt, runPipeline } from './pipeline';
import { writeModel } from '../helpers/onnxBuilder';
import { mulberry32 } from '../helpers/random';

const dir = tempDir('modelfuse-mixed-');

const rng = mulberry32;

type Layer = 'Conv' | 'ConvTranspose' | 'MatMul';
type Step = 'BatchNormalization' | 'Add' | 'Mul';

interface Plan {
  naming: Naming;
  layer: Layer;
  steps: Step[];
  opset: number;
  describe: string;
}

type Naming = 'named' | 'unnamed' | 'repeated';

function buildModel(seed: number, forceNaming?: Naming): { g: GraphBuilder; plan: Plan; inputDims: number[] } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const layer = pick(['Conv', 'Conv', 'ConvTranspose', 'MatMul'] as const);
  const steps = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(['BatchNormalization', 'Add', 'Mul'] as const));
  const opset = pick([11, 13, 15, 17]);
  const drawn = pick<Naming>(['named', 'unnamed', 'repeated']); // always drawn: a twin with forced naming gets the same weights
  const naming = forceNaming ?? drawn;
  const storage = (oneD: boolean): ConstantStorage => pick(oneD ? ['initializer', 'constant-node', 'constant-floats'] as const : ['initializer', 'constant-node'] as const);
  const typed = r() < 0.3;
  let counter = 0;
  const name = (op: string): string => (naming === 'named' ? `${op}_${counter++}` : naming === 'unnamed' ? '' : 'node');

  const g = new GraphBuilder();
  const C = 2 + Math.floor(r() * 4);
  const inputDims = layer === 'MatMul' ? [3, 5] : [1, 2 * (1 + Math.floor(r() * 2)), 5, 6];
  g.input('x', inputDims).output('y');
  let value = 'v0';
  let rank = 4;
  if (layer === 'MatMul') {
    rank = 2;
    g.node('MatMul', name('MatMul'), ['x', g.constant('w', [5, C], { storage: storage(false), typed })], [value]);
  } else if (layer === 'Conv') {
    const group = r() < 0.3 ? inputDims[1] : 1;
    const out = group > 1 ? inputDims[1] * (1 + Math.floor(r() * 2)) : C;
    g.node('Conv', name('Conv'), ['x', g.constant('w', [out, inputDims[1] / group, 3, 3], { storage: storage(false), typed })], [value], { pads: [1, 1, 1, 1], group });
    return finish(out);
  } else {
    // Weight [Cin, Cout/group, k, k]; Cin is 2 or 4, so group 2 always divides it.
    const group = r() < 0.5 ? 2 : 1;
    const perGroup = 1 + Math.floor(r() * 3);
    g.node('ConvTranspose', name('ConvTranspose'), ['x', g.constant('w', [inputDims[1], perGroup, 3, 3], { storage: storage(false), typed })], [value], { group, strides: [2, 2] });
    return finish(perGroup * group);
  }
  return finish(C);

  function finish(channels: number): { g: GraphBuilder; plan: Plan; inputDims: number[] } {
    steps.forEach((step, i) => {
      const next = i === steps.length - 1 ? 'y' : `v${i + 1}`;
      if (step === 'BatchNormalization') {
        const s = storage(true);
        g.node('BatchNormalization', name('BatchNormalization'), [value, ...g.batchNormParams([`bn${i}.g`, `bn${i}.b`, `bn${i}.m`, `bn${i}.v`], channels, s, typed && s !== 'constant-floats')], [next]);
      } else {
        // One value per channel, in the shapes exporters use: [1,C,1,1], [C,1,1], [C] for 2-D, or a single value.
        const dims = rank === 2 ? pick([[channels], [1, channels], [1]]) : pick([[1, channels, 1, 1], [channels, 1, 1], [1]]);
        const s = dims.length === 1 ? storage(true) : storage(false);
        const c = g.constant(`${step.toLowerCase()}${i}`, dims, { storage: s, typed: typed && s !== 'constant-floats', positive: step === 'Mul' });
        g.node(step, name(step), r() < 0.5 ? [value, c] : [c, value], [next]);
      }
      value = next;
    });
    const describe = `seed ${seed}: ${layer} → ${steps.join(' → ')}, opset ${opset}, ${naming} nodes${typed ? ', typed fields' : ''}`;
    return { g, plan: { naming, layer, steps, opset, describe }, inputDims };
  }
}

const SEEDS = Array.from({ length: 48 }, (_, i) => 1000 + i);

test(`${SEEDS.length} seeded exporter-style chains: fused models match ONNX Runtime and nothing foldable is left`, async () => {
  for (const seed of SEEDS) {
    const { g, plan, inputDims } = buildModel(seed);
    const file = writeModel(path.join(dir, `mixed-${seed}.onnx`), modelProto(g, { opset: plan.opset, irVersion: 8, producer: 'mixed' }));
    // ONNX Runtime refuses repeated node names: such a model is compared through its uniquely named twin.
    const repeated = plan.naming === 'repeated';
    const r = await runPipeline(file, { x: { dims: inputDims } }, { compare: !repeated }).catch((err: Error) => assert.fail(`${plan.describe}: ${err.message}`));
    if (repeated && new Set(r.fused.graph.node.map((n) => n.name)).size === r.fused.graph.node.length) {
      const twin = buildModel(seed, 'named');
      const twinFile = writeModel(path.join(dir, `mixed-${seed}-twin.onnx`), modelProto(twin.g, { opset: plan.opset, irVersion: 8, producer: 'mixed' }));
      const inputs = feedValues({ x: { dims: inputDims } });
      const d = relativeToMax((await runOrt(r.fuse.output, inputs)).y, (await runOrt(twinFile, inputs)).y);
      assert.ok(d <= 1e-5, `${plan.describe}: fused differs from the uniquely named original by ${d}`);
    }
    // A conv layer followed only by per-channel BN / Add / Mul absorbs them all (repeated name or not).
    if (plan.layer !== 'MatMul') {
      const left = opCount(r.fused, 'BatchNormalization') + opCount(r.fused, 'Add') + opCount(r.fused, 'Mul');
      assert.equal(left, 0, `${plan.describe}: ${left} BN/Add/Mul left; scan found ${describeCandidates(r.candidates)}`);
    } else if (plan.steps[0] === 'Add' || plan.steps[0] === 'BatchNormalization') {
      assert.equal(opCount(r.fused, 'MatMul'), 0, `${plan.describe}: the MatMul became a Gemm`);
    }
  }
});
