import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedModuleWarning } from '../../../extension/engine/fusion/scan';
import { shortWarning } from '../../../webview/overview/onnxView';
import { bytes, shape, shortCount } from '../../../webview/shared/format';

test('the engine’s shared-module warning is shortened in the overview table (whole text stays the tooltip)', () => {
  const w = sharedModuleWarning('relu', ['/relu/Relu', '/relu_1/Relu', '/relu_2/Relu', '/relu_3/Relu', '/relu_4/Relu']);
  assert.equal(shortWarning(w, true), "shared module 'relu' (called 5×): keep this group out of PyTorch's fuse_modules; the ONNX fold is exact");
  assert.equal(shortWarning(w, false), "shared module 'relu' (called 5×): keep this group out of PyTorch's fuse_modules", 'a grouping-only row promises no fold');
  assert.equal(shortWarning('BatchNorm in training mode', true), 'BatchNorm in training mode');
});

test('overview numbers: short counts, binary byte units, shapes with symbolic and unknown dims', () => {
  assert.equal(shortCount(9999), '9,999');
  assert.equal(shortCount(10_136), '10.1 k');
  assert.equal(shortCount(124_439_808), '124 M');
  assert.equal(shortCount(7_241_732_096), '7.24 G');
  assert.equal(bytes(512), '512 B');
  assert.equal(bytes(40_544), '39.6 KiB');
  assert.equal(bytes(3 * 2 ** 30), '3 GiB');
  assert.equal(shape([1, 'batch', null, 224]), '1 × batch × ? × 224');
  assert.equal(shape([]), 'scalar');
  assert.equal(shape(null), '?');
});
