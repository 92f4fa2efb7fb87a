/**
 * Patterns and their blocked reasons on hand-built models: each test changes
 * one thing in an otherwise fusible sequence and checks scan names it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DataType } from '../../../extension/engine/onnx/proto';
import { analyzeModel, scanModel } from '../../../extension/engine/fusion/scan';
import type { Candidate } from '../../../extension/engine/fusion/candidate';
import { buildFuseList } from '../../../extension/engine/fusion/fuseList';
import { buildModel, convBnRelu, type Spec } from './build';
import { warningText } from '../../../extension/engine/fusion/warnings';

function scan(spec: Spec): Candidate[] {
  return scanModel(buildModel(spec)).candidates;
}

function only(cands: Candidate[], pattern: string): Candidate {
  const found = cands.filter((c) => c.pattern === pattern);
  assert.equal(found.length, 1, `one ${pattern} expected, got ${cands.map((c) => c.id).join(', ') || 'none'}`);
  return found[0];
}

test('the unmodified sequence is one unblocked conv-bn-relu (longest match; no separate conv-bn or bn-relu)', () => {
  const cands = scan(convBnRelu());
  assert.equal(cands.length, 1);
  const c = cands[0];
  assert.deepEqual(
    { id: c.id, nodes: c.nodes, modules: c.modules, folds: c.folds, blocked: c.blocked, warnings: c.warnings },
    { id: 'conv-bn-relu:/conv/Conv', nodes: ['/conv/Conv', '/bn/BatchNormalization', '/relu/Relu'], modules: ['conv', 'bn', 'relu'], folds: true, blocked: null, warnings: [] },
  );
});

test('an intermediate with a second consumer blocks the sequence; the part after it is still offered', () => {
  const spec = convBnRelu();
  spec.nodes.push({ op: 'Sigmoid', name: '/gate/Sigmoid', in: ['conv_out'], out: ['g'] });
  spec.outputs.push('g');
  const cands = scan(spec);
  assert.match(only(cands, 'conv-bn-relu').blocked ?? '', /output 'conv_out' of '\/conv\/Conv' is also used by '\/gate\/Sigmoid'/);
  assert.equal(only(cands, 'bn-relu').blocked, null);
});

test('a graph output in the middle of the sequence blocks it', () => {
  const spec = convBnRelu();
  spec.outputs.push('conv_out');
  assert.match(only(scan(spec), 'conv-bn-relu').blocked ?? '', /'conv_out' .* is also a graph output/);
});

test('a second reader of the BN output keeps the Relu out: conv-bn, unblocked', () => {
  const spec = convBnRelu();
  spec.outputs.push('bn_out');
  const cands = scan(spec);
  assert.equal(only(cands, 'conv-bn').blocked, null);
  assert.equal(cands.some((c) => c.pattern === 'conv-bn-relu'), false);
});

test('BatchNormalization in training mode is blocked (attribute or used statistics outputs)', () => {
  const a = convBnRelu();
  a.nodes[1].attrs = { training_mode: 1 };
  assert.match(only(scan(a), 'conv-bn-relu').blocked ?? '', /training mode \(training_mode=1\)/);

  const b = convBnRelu(4, { relu: false });
  b.opset = 9;
  b.nodes[1].out = ['bn_out', 'mean_out', 'var_out'];
  b.nodes.push({ op: 'Identity', name: 'use_mean', in: ['mean_out'], out: ['m'] });
  b.outputs.push('m');
  assert.match(only(scan(b), 'conv-bn').blocked ?? '', /training mode \(its batch statistics output 'mean_out' is used\)/);
});

test('parameters that are not constants block folding', () => {
  const graphInput = convBnRelu();
  graphInput.inits = graphInput.inits!.filter((t) => t.name !== 'conv.weight');
  graphInput.inputs.push({ name: 'conv.weight', dims: [4, 3, 3, 3] });
  assert.match(only(scan(graphInput), 'conv-bn-relu').blocked ?? '', /Conv weight 'conv.weight' is a graph input, not a constant/);

  const computed = convBnRelu();
  computed.inits!.push({ name: 'scale', dims: [1] });
  computed.nodes.unshift({ op: 'Mul', name: 'scale_var', in: ['bn.running_var', 'scale'], out: ['var2'] });
  computed.nodes[2].in[4] = 'var2';
  assert.match(only(scan(computed), 'conv-bn-relu').blocked ?? '', /running variance 'var2' is computed by 'scale_var', not a constant/);

  const overridable = convBnRelu();
  overridable.initsAsInputs = ['bn.weight'];
  assert.match(only(scan(overridable), 'conv-bn-relu').blocked ?? '', /'bn.weight' is also a graph input, so it can change at run time/);
});

test('an unsupported weight dtype blocks folding', () => {
  const spec = convBnRelu();
  spec.inits![0].dtype = DataType.INT8;
  spec.inits![0].values = new Array(4 * 27).fill(1);
  assert.match(only(scan(spec), 'conv-bn-relu').blocked ?? '', /'conv.weight' is int8; only float32, float16, bfloat16 and float64/);
});

test('BN channel count must match the conv', () => {
  const spec = convBnRelu();
  for (const t of spec.inits!) if (t.name.startsWith('bn.')) t.dims = [5];
  assert.match(only(scan(spec), 'conv-bn-relu').blocked ?? '', /has 5 channels but the layer before it produces 4/);
});

test('a shared weight does not block: the fold copies it, and scan says so', () => {
  const spec = convBnRelu();
  spec.nodes.push({ op: 'Conv', name: '/other/Conv', in: ['x', 'conv.weight'], out: ['o'], attrs: { pads: [1, 1, 1, 1] } });
  spec.outputs.push('o');
  const c = only(scan(spec), 'conv-bn-relu');
  assert.equal(c.blocked, null);
  assert.equal(c.details?.sharedWeight, 'conv.weight');
  assert.match(c.warnings.map(warningText).join('\n'), /weight 'conv.weight' is also read by '\/other\/Conv'; folding gives this node its own copy/);
});

test('1-D and 3-D convolutions, and ConvTranspose (channels = dims[1] × group)', () => {
  for (const [d, dims] of [[1, [1, 3, 8]], [3, [1, 3, 4, 4, 4]]] as const) {
    const spec = convBnRelu(4, { relu: false });
    spec.inputs[0].dims = [...dims];
    spec.inits![0].dims = [4, 3, ...new Array(d).fill(3)];
    spec.nodes[0].attrs = { pads: new Array(2 * d).fill(1) };
    const c = only(scan(spec), 'conv-bn');
    assert.equal(c.blocked, null);
    assert.equal(c.details?.spatialDims, d);
  }
  const t = convBnRelu(4);
  t.inputs[0].dims = [1, 2, 8, 8];
  t.nodes[0] = { op: 'ConvTranspose', name: '/up/ConvTranspose', in: ['x', 'up.weight'], out: ['conv_out'], attrs: { group: 2 } };
  t.inits![0] = { name: 'up.weight', dims: [2, 2, 3, 3] };
  const cands = scan(t);
  const ct = only(cands, 'convtranspose-bn');
  assert.equal(ct.blocked, null);
  assert.deepEqual(ct.modules, ['up', 'bn'], 'torch has no ConvTranspose+BN+ReLU fuser: the Relu stays out');
});

test('conv-add / conv-mul: only constant per-channel operands; residual Adds are not candidates', () => {
  const base = (op: string, dims: number[]): Spec => ({
    inputs: [{ name: 'x', dims: [1, 3, 8, 8] }],
    outputs: ['y'],
    inits: [{ name: 'conv.weight', dims: [4, 3, 3, 3] }, { name: 'k', dims }],
    nodes: [
      { op: 'Conv', name: '/conv/Conv', in: ['x', 'conv.weight'], out: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op, name: `/${op}`, in: ['c', 'k'], out: ['y'] },
    ],
  });
  assert.equal(only(scan(base('Add', [1, 4, 1, 1])), 'conv-add').blocked, null);
  assert.equal(only(scan(base('Add', [4, 1, 1])), 'conv-add').blocked, null);
  assert.equal(only(scan(base('Mul', [1])), 'conv-mul').blocked, null);
  assert.equal(scan(base('Add', [1, 4, 8, 8])).length, 0, 'a per-position bias is not per-channel');
  assert.equal(scan(base('Mul', [2, 1, 4, 1, 1])).length, 0, 'a higher-rank operand changes the output shape');
  const residual = base('Add', [1]);
  residual.nodes[1].in = ['c', 'x'];
  residual.inits!.pop();
  assert.equal(scan(residual).length, 0);
});

test('matmul-add only for 2-D inputs; linear-bn on a MatMul needs a 2-D output', () => {
  const mm = (inDims: number[] | undefined, tail: 'add' | 'bn'): Spec => ({
    inputs: [{ name: 'x', dims: inDims }],
    outputs: ['y'],
    inits: [
      { name: 'onnx::MatMul_7', dims: [16, 8] },
      { name: 'fc.bias', dims: [8] },
      ...['weight', 'bias', 'running_mean', 'running_var'].map((p) => ({ name: `bn.${p}`, dims: [8] })),
    ],
    nodes: [
      { op: 'MatMul', name: '/fc/MatMul', in: ['x', 'onnx::MatMul_7'], out: ['m'] },
      tail === 'add'
        ? { op: 'Add', name: '/fc/Add', in: ['fc.bias', 'm'], out: ['y'] }
        : { op: 'BatchNormalization', name: '/bn/BatchNormalization', in: ['m', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], out: ['y'] },
    ],
  });
  const ok = only(scan(mm([4, 16], 'add')), 'matmul-add');
  assert.deepEqual([ok.blocked, ok.modules], [null, ['fc']]);
  assert.equal(scan(mm([2, 4, 16], 'add')).length, 0);
  assert.match(only(scan(mm(undefined, 'add')), 'matmul-add').blocked ?? '', /cannot tell whether the input .* is 2-D/);
  assert.equal(only(scan(mm([4, 16], 'bn')), 'linear-bn').blocked, null);
  assert.match(only(scan(mm([2, 4, 16], 'bn')), 'linear-bn').blocked ?? '', /is 3-D; BatchNormalization normalizes axis 1/);
});

test('linear-relu through MatMul + bias Add, and Gemm', () => {
  const spec: Spec = {
    inputs: [{ name: 'x', dims: [2, 5, 16] }],
    outputs: ['y'],
    inits: [{ name: 'w', dims: [16, 8] }, { name: 'fc.bias', dims: [8] }],
    nodes: [
      { op: 'MatMul', name: '/fc/MatMul', in: ['x', 'w'], out: ['m'] },
      { op: 'Add', name: '/fc/Add', in: ['m', 'fc.bias'], out: ['a'] },
      { op: 'Relu', name: '/act/Relu', in: ['a'], out: ['y'] },
    ],
  };
  const c = only(scan(spec), 'linear-relu');
  assert.deepEqual([c.nodes, c.modules, c.folds], [['/fc/MatMul', '/fc/Add', '/act/Relu'], ['fc', 'act'], false]);
});

test('fuse-list: BatchNorm2d + ReLU is fusable; after a functional relu (no module) the group is [conv, bn], as torch.fx finds in GoogLeNet', () => {
  const bnRelu: Spec = {
    inputs: [{ name: 'x', dims: [1, 4, 8, 8] }],
    outputs: ['y'],
    inits: ['weight', 'bias', 'running_mean', 'running_var'].map((p) => ({ name: `bn.${p}`, dims: [4] })),
    nodes: [
      { op: 'BatchNormalization', name: '/bn/BatchNormalization', in: ['x', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], out: ['b'] },
      { op: 'Relu', name: '/act/Relu', in: ['b'], out: ['y'] },
    ],
  };
  assert.deepEqual(buildFuseList(analyzeModel(buildModel(bnRelu))).groups, [{ modules: ['bn', 'act'], types: ['BatchNorm2d', 'ReLU'] }]);
  const functional = convBnRelu();
  functional.nodes[2].name = '/Relu';
  const list = buildFuseList(analyzeModel(buildModel(functional)));
  assert.deepEqual(list.groups, [{ modules: ['conv', 'bn'], types: ['Conv2d', 'BatchNorm2d'] }]);
  assert.deepEqual(list.excluded, []);
  // A functional relu after a Conv alone is no group at all.
  const convOnly: Spec = {
    ...functional,
    inits: (functional.inits ?? []).filter((i) => i.name.startsWith('conv.')),
    nodes: [functional.nodes[0], { ...functional.nodes[2], in: ['conv_out'] }],
  };
  const alone = buildFuseList(analyzeModel(buildModel(convOnly)));
  assert.equal(alone.groups.length, 0);
  assert.match(alone.excluded[0].reason, /node '\/Relu' belongs to no module/);
});

test('unnamed and duplicate-named nodes are addressed as <name or op_type>#<position> (onnx.helper and PyTorch < 1.5 leave names empty)', () => {
  const spec = convBnRelu();
  spec.nodes[0].name = '';
  const cands = scan(spec);
  assert.deepEqual(cands.map((c) => [c.pattern, c.nodes]), [['conv-bn-relu', ['Conv#0', '/bn/BatchNormalization', '/relu/Relu']]]);
  const dup = convBnRelu();
  dup.nodes[2].name = '/bn/BatchNormalization';
  assert.deepEqual(scan(dup).map((c) => c.nodes), [['/conv/Conv', '/bn/BatchNormalization#1', '/bn/BatchNormalization#2']]);
  // A real node already called like a synthetic address keeps its name; the synthetic one steps aside.
  const clash = convBnRelu();
  clash.nodes[0].name = '';
  clash.nodes[2].name = 'Conv#0';
  assert.deepEqual(scan(clash).map((c) => c.nodes), [['Conv#0#', '/bn/BatchNormalization', 'Conv#0']]);
});

test('fuse-list tells BatchNorm1d/2d/3d apart by rank, from shapes or from the Conv weight', () => {
  for (const [d, bnType] of [[1, 'BatchNorm1d'], [2, 'BatchNorm2d'], [3, 'BatchNorm3d']] as const) {
    const spec = convBnRelu();
    spec.inputs[0].dims = undefined; // no shape information: the rank comes from the weight
    spec.inits![0].dims = [4, 3, ...new Array(d).fill(3)];
    spec.nodes[0].attrs = { pads: new Array(2 * d).fill(1) };
    const list = buildFuseList(analyzeModel(buildModel(spec)));
    assert.deepEqual(list.groups, [{ modules: ['conv', 'bn', 'relu'], types: [`Conv${d}d`, bnType, 'ReLU'] }]);
  }
});

test('the human table and fuse-list never print control characters from node names', async () => {
  const { formatScanTable } = await import('../../../extension/cli/scanCommand');
  const { formatFuseList } = await import('../../../extension/engine/fusion/fuseList');
  const spec = convBnRelu();
  spec.nodes[2].name = '/Relu\u001b[2J';
  const analysis = analyzeModel(buildModel(spec));
  const text = formatScanTable(analysis.scan) + formatFuseList(buildFuseList(analysis), 'm.onnx');
  assert.doesNotMatch(text, /\u001b/);
  assert.match(text, /\/Relu\\x1b\[2J/);
});
