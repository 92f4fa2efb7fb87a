import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedModuleWarning, sharedWeightWarning, warningGist, warningLabel, warningText } from '../../../extension/engine/fusion/warnings';
import { bytes, shape, shortCount } from '../../../shared/format';

test('the engine’s shared-module warning is shortened in the overview table (whole text stays the tooltip)', () => {
  const w = sharedModuleWarning('relu', ['/relu/Relu', '/relu_1/Relu', '/relu_2/Relu', '/relu_3/Relu', '/relu_4/Relu']);
  assert.equal(warningGist(w, true), "shared module 'relu' (called 5×): keep this group out of PyTorch's fuse_modules; the ONNX fold is exact");
  assert.equal(warningGist(w, false), "shared module 'relu' (called 5×): keep this group out of PyTorch's fuse_modules", 'a grouping-only row promises no fold');
  assert.match(warningText(w), /^shared module 'relu' is called from 5 places \('\/relu\/Relu', '\/relu_1\/Relu', '\/relu_2\/Relu', '\/relu_3\/Relu', … \(5 in all\)\): torch\.ao\.quantization\.fuse_modules/);
});

test('a shared weight reads as a shared weight, never as a shared module, in every wording', () => {
  const w = sharedWeightWarning('conv.weight', ['/other/Conv', '/b/Conv', '/c/Conv', '/d/Conv']);
  assert.equal(warningLabel(w), 'shared weight');
  assert.equal(warningText(w), "weight 'conv.weight' is also read by '/other/Conv', '/b/Conv', '/c/Conv' and 1 more; folding gives this node its own copy and leaves theirs unchanged");
  assert.equal(warningGist(w, true), "shared weight 'conv.weight' (also read by 4 other nodes): the fold gives this node its own copy");
  for (const text of [warningLabel(w), warningText(w), warningGist(w, true)]) assert.doesNotMatch(text, /shared module/);
  assert.equal(warningLabel(sharedModuleWarning('relu', ['a', 'b'])), 'shared module');
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
