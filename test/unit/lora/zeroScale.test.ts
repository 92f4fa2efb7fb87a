import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroScaleNote } from '../../../extension/engine/lora/zeroScale';

test('zeroScaleNote: silent when every module changes its tensor; names the modules at scale 0; replacements always change', () => {
  assert.equal(zeroScaleNote([{ module: 'q', kind: 'lora', scale: 2 }]), null);
  assert.match(zeroScaleNote([{ module: 'q', kind: 'lora', scale: 0 }, { module: 'v', kind: 'lora', scale: 0 }])!, /^nothing changes: every matched module's scale is 0/);
  const some = zeroScaleNote(['a', 'b', 'c', 'd', 'e'].map((module, i) => ({ module, kind: 'lora' as const, scale: i === 0 ? 1 : 0 })));
  assert.equal(some, "4 of 5 modules change nothing ('b', 'c', 'd' and 1 more): their scale is 0 (lora_alpha 0, an adapter weight of 0 or a global scale of 0)");
  assert.match(zeroScaleNote([{ module: 'head', kind: 'replace', scale: 0 }, { module: 'q', kind: 'lora', scale: 0 }])!, /^1 of 2 modules change nothing \('q'\)/);
});
