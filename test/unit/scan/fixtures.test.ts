/**
 * scan on the real PyTorch exports: its module groups are exactly the groups
 * torch.fx found for fuse_modules (case.json), the groups with a shared
 * module carry the warning, and fuse-list offers exactly the groups PyTorch
 * fused successfully.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { OnnxModel } from '../../../extension/engine/onnx/model';
import { analyzeModel, isSharedModuleWarning, scanModel } from '../../../extension/engine/fusion/scan';
import { buildFuseList, formatFuseList } from '../../../extension/engine/fusion/fuseList';
import { fixture, FUSION_CASES, readCase } from '../helpers/fixtures';

const key = (g: readonly (string | null)[]): string => JSON.stringify(g);

for (const name of FUSION_CASES) {
  test(`${name}: scan's module groups contain each torch fuse_modules group exactly`, () => {
    const c = readCase(name);
    const model = OnnxModel.load(fixture(name, 'model.onnx'));
    try {
      const { candidates } = scanModel(model);
      const byGroup = new Map(candidates.map((x) => [key(x.modules), x]));
      for (const g of c.torch_fuse_modules_groups) {
        const cand = byGroup.get(key(g));
        assert.ok(cand, `${name}: group ${key(g)} not found among ${candidates.map((x) => key(x.modules)).join(' ')}`);
        assert.equal(cand.blocked, null, `${name}: ${key(g)} is blocked: ${cand.blocked}`);
        assert.equal(cand.warnings.filter(isSharedModuleWarning).length, 0, `${name}: ${key(g)} must not carry the shared-module warning`);
      }
      for (const g of c.groups_unsafe_for_fuse_modules) {
        const cand = byGroup.get(key(g));
        assert.ok(cand, `${name}: unsafe group ${key(g)} not found`);
        assert.ok(cand.warnings.some(isSharedModuleWarning), `${name}: ${key(g)} lacks the shared-module warning`);
      }
      // Nothing beyond those groups (the fixtures hold no constant Add/Mul folds).
      assert.equal(candidates.length, c.torch_fuse_modules_groups.length + c.groups_unsafe_for_fuse_modules.length, `${name}: ${candidates.map((x) => x.id).join(', ')}`);
      const ids = new Set(candidates.map((x) => x.id));
      assert.equal(ids.size, candidates.length, 'ids are unique');
    } finally {
      model.close();
    }
  });

  test(`${name}: fuse-list offers exactly the groups PyTorch fused`, () => {
    const c = readCase(name);
    const model = OnnxModel.load(fixture(name, 'model.onnx'));
    try {
      const list = buildFuseList(analyzeModel(model));
      const failed = new Set(c.torch_fuse_modules_failed.map((f) => key(f.group)));
      const expected = c.torch_fuse_modules_groups.filter((g) => !failed.has(key(g))).map(key).sort();
      assert.deepEqual(list.groups.map((g) => key(g.modules)).sort(), expected);
      const excluded = list.excluded.map((e) => key(e.modules)).sort();
      assert.deepEqual(excluded, [...failed, ...c.groups_unsafe_for_fuse_modules.map(key)].sort());
      const text = formatFuseList(list, 'm.onnx');
      assert.match(text, /torch\.ao\.quantization\.fuse_modules\(model, \[/);
      for (const g of list.groups) assert.ok(text.includes(`['${g.modules.join("', '")}']`), text);
      for (const e of list.excluded) assert.ok(text.includes(`#   ['${e.modules.join("', '")}']`), text);
    } finally {
      model.close();
    }
  });
}

test('zoo_linear: BatchNorm1d + ReLU is left out with torch\'s reason', () => {
  const model = OnnxModel.load(fixture('zoo_linear', 'model.onnx'));
  const list = buildFuseList(analyzeModel(model));
  model.close();
  const bn0 = list.excluded.find((e) => e.modules[0] === 'bn0');
  assert.ok(bn0);
  assert.match(bn0.reason, /no fuser method for \(BatchNorm1d, ReLU\)/);
  assert.deepEqual(list.groups.find((g) => g.modules[0] === 'fc3')?.types, ['Linear', 'BatchNorm1d']);
});

test('fold candidates carry what folds need: kind, transB, foldedByExporter', () => {
  const lin = OnnxModel.load(fixture('zoo_linear', 'model.onnx'));
  const fc1 = scanModel(lin).candidates.find((c) => c.id === 'linear-bn:/fc1/Gemm');
  lin.close();
  assert.deepEqual({ kind: fc1?.details?.kind, transB: fc1?.details?.transB, folds: fc1?.folds }, { kind: 'Gemm', transB: 1, folds: true });
  const dyn = OnnxModel.load(fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'));
  const cands = scanModel(dyn).candidates;
  dyn.close();
  // The exporter already folded both BNs: nothing folds in ONNX, but the PyTorch groups remain.
  assert.ok(cands.every((c) => c.folds === false));
  assert.equal(cands.find((c) => c.nodes[0] === 'node_Conv_26')?.details?.foldedByExporter, true);
});

test('scan of the external-data model reads no external bytes', () => {
  const model = OnnxModel.load(fixture('zoo_conv_bn_relu_dynamo', 'model.onnx'));
  let reads = 0;
  const original = model.external.read.bind(model.external);
  model.external.read = (...args) => {
    reads++;
    return original(...args);
  };
  const r = scanModel(model);
  model.close();
  assert.equal(reads, 0);
  assert.ok(r.model.bytes > r.model.parameters, 'bytes include the external data file');
});
