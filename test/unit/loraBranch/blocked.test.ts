/**
 * LoRA branches that must not be folded: scan reports them with the reason,
 * fuse skips them with that reason and leaves the graph as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, GraphSpec, loraCandidates, opCount, randn, run, scanAndFuse } from './helpers';

/** The branch's value names, as `tweak` gets them. */
interface BranchNames { a: string; h1: string; h2: string; scaled: string; base: string }
/** What `tweak` may add to the model: more outputs, more inputs. */
interface BranchExtras { outputs?: string[]; inputs?: { name: string; dims: number[]; dtype?: number }[] }

/** x[2,3,8] → MatMul(W)+b, plus MatMul(Aᵀ) → MatMul(Bᵀ) → Mul(2) → Add. `tweak` edits the branch before the model is built. */
function peftLike(tweak: (g: GraphSpec, names: BranchNames) => BranchExtras | void) {
  const g = new GraphSpec();
  g.weight('q.base_layer.weight', [8, 6]);
  g.weight('q.base_layer.bias', [6]);
  g.weight('q.lora_A.weight', [8, 2]);
  g.weight('q.lora_B.weight', [2, 6]);
  const mm = g.op('MatMul', 'q/base/MatMul', ['x', 'q.base_layer.weight']);
  const base = g.op('Add', 'q/base/Add', ['q.base_layer.bias', mm]);
  const h1 = g.op('MatMul', 'q/lora_A/MatMul', ['x', 'q.lora_A.weight']);
  const h2 = g.op('MatMul', 'q/lora_B/MatMul', [h1, 'q.lora_B.weight']);
  const scaled = g.op('Mul', 'q/Mul', [h2, g.constant('q/scale', [], [2])]);
  const extra = tweak(g, { a: 'q.lora_A.weight', h1, h2, scaled, base }) ?? {};
  const y = g.op('Add', 'q/Add', [base, scaled]);
  const inputs = [{ name: 'x', dims: [2, 3, 8] }, ...(extra.inputs ?? [])];
  return { bytes: g.model(inputs, [{ name: y }, ...(extra.outputs ?? []).map((name) => ({ name }))]), inputs };
}

async function checkBlocked(built: ReturnType<typeof peftLike>, reason: RegExp): Promise<void> {
  const { candidates, report, model, bytes } = scanAndFuse(built.bytes);
  const lora = loraCandidates(candidates);
  assert.equal(lora.length, 1, 'reported');
  assert.match(lora[0].blocked ?? '(not blocked)', reason);
  assert.equal(report.applied.length, 0, 'nothing folded');
  assert.match(report.skipped.find((s) => s.id === lora[0].id)?.reason ?? '', reason);
  assert.equal(opCount(model, 'MatMul'), 3, 'branch still there');
  // The model is untouched: same outputs.
  const feeds = Object.fromEntries(built.inputs.map((i, k) => [
    i.name,
    { dims: i.dims, values: randn(i.dims.reduce((a, b) => a * b, 1), 11 + k), dtype: i.dtype },
  ]));
  const [a, b] = [await run(built.bytes, feeds), await run(bytes, feeds)];
  for (const k of Object.keys(a)) assert.deepEqual(b[k], a[k]);
}

test('an intermediate of the branch read by another node is not folded', () =>
  checkBlocked(peftLike((g, n) => void g.op('Relu', 'spy', [n.h1])), /'q\/lora_A\/MatMul_out' inside the LoRA structure is also read by node 'spy'/));

test('an intermediate of the branch that is a graph output is not folded', () =>
  checkBlocked(peftLike((_, n) => ({ outputs: [n.h2] })), /'q\/lora_B\/MatMul_out' inside the LoRA structure is also read by the graph outputs/));

test('a base output read elsewhere (it would see the merged result) is not folded', () =>
  checkBlocked(peftLike((g, n) => void g.op('Sigmoid', 'other', [n.base])), /'q\/base\/Add_out' inside the LoRA structure is also read by node 'other'/));

test('a non-constant A (a graph input) is not folded', async () => {
  const g = new GraphSpec();
  g.weight('w', [8, 6]);
  g.weight('b', [2, 6]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  const h = g.op('MatMul', 'B', [g.op('MatMul', 'A', ['x', 'lora_A']), 'b']);
  const y = g.op('Add', 'add', [base, g.op('Mul', 'mul', [h, g.constant('s', [], [2])])]);
  const inputs = [{ name: 'x', dims: [2, 3, 8] }, { name: 'lora_A', dims: [8, 2] }];
  await checkBlocked({ bytes: g.model(inputs, [{ name: y }]), inputs }, /the A \(down\) weight 'lora_A' is not constant: 'lora_A' is a graph input/);
});

test('a non-constant B (computed at run time) is not folded', async () => {
  const g = new GraphSpec();
  g.weight('w', [8, 6]);
  g.weight('a', [8, 2]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  const bRuntime = g.op('Relu', 'make_b', ['z']);
  const h = g.op('MatMul', 'B', [g.op('MatMul', 'A', ['x', 'a']), bRuntime]);
  const y = g.op('Add', 'add', [base, h]);
  const inputs = [{ name: 'x', dims: [2, 3, 8] }, { name: 'z', dims: [2, 6] }];
  await checkBlocked({ bytes: g.model(inputs, [{ name: y }]), inputs }, /the B \(up\) weight 'make_b_out' is not constant: 'z' is a graph input/);
});

test('an initializer that is also a graph input (overridable at run time) is not a constant A', async () => {
  const built = peftLike(() => ({ inputs: [{ name: 'q.lora_A.weight', dims: [8, 2] }] }));
  await checkBlocked(built, /the A \(down\) weight 'q.lora_A.weight' is not constant/);
});

test('a Cast that changes precision inside the branch is not folded', () =>
  checkBlocked(
    peftLike((g, n) => {
      // retarget B to read a float16 round trip of A's output
      const half = g.op('Cast', 'to_half', [n.h1], { to: DataType.FLOAT16 });
      const back = g.op('Cast', 'to_float', [half], { to: DataType.FLOAT });
      g.nodes.find((x) => x.name === 'q/lora_B/MatMul')!.inputs[0] = back;
    }),
    /Cast 'to_half' to float16 inside the branch changes the precision/,
  ));

test('a Reshape pair whose restoring shape cannot be proven (dynamic dims) is not folded', async () => {
  const g = new GraphSpec();
  g.weight('w', [8, 6]);
  g.weight('a', [8, 2]);
  g.weight('b', [2, 6]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  let h = g.op('Reshape', 'flat', ['x', g.constant('flat_shape', [2], [-1, 8], DataType.INT64)]);
  h = g.op('MatMul', 'B', [g.op('MatMul', 'A', [h, 'a']), 'b']);
  h = g.op('Reshape', 'unflat', [h, g.constant('back_shape', [3], [2, 3, 6], DataType.INT64)]);
  const y = g.op('Add', 'add', [base, h]);
  const bytes = g.model([{ name: 'x', dims: ['batch', 3, 8] }], [{ name: y }]);
  const { candidates, report } = scanAndFuse(bytes);
  const [c] = loraCandidates(candidates);
  assert.match(c.blocked ?? '', /cannot prove that Reshape 'unflat' restores the shape before Reshape 'flat'/);
  assert.equal(report.applied.length, 0);
});

test('Q·Kᵀ-like products of two runtime values are not reported as LoRA', () => {
  const g = new GraphSpec();
  g.weight('w', [8, 8]);
  const base = g.op('MatMul', 'base', ['x', 'w']);
  const kt = g.op('Transpose', 'kt', ['k'], { perm: [1, 0] });
  const h = g.op('MatMul', 'qk', [g.op('MatMul', 'q', ['x', 'm']), kt]);
  const y = g.op('Add', 'add', [base, h]);
  const { candidates } = scanAndFuse(g.model([{ name: 'x', dims: [3, 8] }, { name: 'm', dims: [8, 4] }, { name: 'k', dims: [8, 4] }], [{ name: y }]));
  assert.equal(loraCandidates(candidates).length, 0);
});

test('a one-factor side path (two linears added) is not a LoRA branch', () => {
  const g = new GraphSpec();
  g.weight('w1', [8, 6]);
  g.weight('w2', [8, 6]);
  const y = g.op('Add', 'add', [g.op('MatMul', 'm1', ['x', 'w1']), g.op('MatMul', 'm2', ['x', 'w2'])]);
  const { candidates } = scanAndFuse(g.model([{ name: 'x', dims: [3, 8] }], [{ name: y }]));
  assert.equal(loraCandidates(candidates).length, 0);
});
