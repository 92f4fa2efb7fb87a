import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cosineSimilarity, DEFAULT_TOLERANCE, diffStats, failureReason, quantileSorted, REL_FLOOR } from '../../../extension/engine/stats/outputDiff';

const close = (actual: number | null, expected: number, what: string) => {
  assert.ok(actual !== null && Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected}`);
};

test('quantiles use linear interpolation between order statistics (numpy default)', () => {
  assert.equal(quantileSorted([1, 2, 3, 4, 5], 0.5), 3);
  close(quantileSorted([1, 2, 3, 4, 5], 0.99), 4.96, 'p99 of 1..5'); // numpy.percentile([1,2,3,4,5], 99) = 4.96
  assert.equal(quantileSorted([0, 10], 0.5), 5);
  assert.equal(quantileSorted([7], 0.99), 7);
  assert.throws(() => quantileSorted([], 0.5), /empty/);
  assert.throws(() => quantileSorted([1], 1.5), /outside/);
});

test('statistics of known arrays', () => {
  const s = diffStats([1, 2, 3, 4], [1, 2.5, 2, 4]);
  // abs = [0, 0.5, 1, 0]; rel = [0, 0.5/2.5, 1/2, 0]
  close(s.max_abs, 1, 'max_abs');
  close(s.mean_abs, 0.375, 'mean_abs');
  close(s.median_abs, 0.25, 'median_abs');
  close(s.p99_abs, 0.5 + 0.5 * 0.97, 'p99_abs');
  close(s.max_rel, 0.5, 'max_rel');
  close(s.mean_rel, 0.175, 'mean_rel');
  close(s.median_rel, 0.1, 'median_rel');
  close(s.p99_rel, 0.2 + 0.3 * 0.97, 'p99_rel');
  close(s.cosine, 28 / Math.sqrt(30 * 27.25), 'cosine');
  assert.equal(s.elements, 4);
  assert.equal(s.mismatched, 2);
  assert.equal(s.passed, false);
  assert.match(failureReason(s, DEFAULT_TOLERANCE)!, /2 of 4 elements differ by more than atol 0.0001 \+ rtol 0.001/);
});

test('identical arrays: every difference is zero and cosine is 1', () => {
  const v = Float64Array.from({ length: 1000 }, (_, i) => Math.sin(i));
  const s = diffStats(v, v);
  for (const k of ['max_abs', 'mean_abs', 'median_abs', 'p99_abs', 'max_rel', 'mean_rel', 'median_rel', 'p99_rel'] as const) assert.equal(s[k], 0, k);
  close(s.cosine, 1, 'cosine');
  assert.equal(s.passed, true);
  assert.equal(failureReason(s, DEFAULT_TOLERANCE), undefined);
});

test('pass/fail is numpy.allclose: |a-b| <= atol + rtol*|b|, inclusive, relative to b', () => {
  const tol = { atol: 0.25, rtol: 0.5 };
  assert.equal(diffStats([3.25], [2], tol).passed, true, 'exactly on the bound passes'); // 1.25 <= 0.25 + 1
  assert.equal(diffStats([3.5], [2], tol).passed, false, 'just beyond fails');
  assert.equal(diffStats([4], [7], tol).passed, true, '3 <= 0.25 + 3.5');
  assert.equal(diffStats([7], [4], tol).passed, false, 'swapped: 3 > 0.25 + 2 — the bound scales with b');
});

test('relative difference where b is 0 uses the documented floor, and atol still decides', () => {
  const s = diffStats([1e-6, 0], [0, 0]);
  close(s.max_rel, 1e-6 / REL_FLOOR, 'max_rel');
  assert.equal(s.passed, true, '1e-6 is within atol 1e-4');
});

test('NaN and Inf: the same non-finite value agrees, a mismatch fails and is counted, not averaged', () => {
  const s = diffStats([NaN, 1, Infinity, -Infinity], [NaN, 1, Infinity, Infinity]);
  assert.equal(s.nonfinite_mismatched, 1);
  assert.equal(s.mismatched, 1);
  assert.equal(s.passed, false);
  assert.equal(s.max_abs, 0, 'the three agreeing elements differ by 0');
  assert.match(failureReason(s, DEFAULT_TOLERANCE)!, /1 elements are NaN\/Inf in one model only/);
  const t = diffStats([NaN, 2], [0, 2.5]);
  assert.equal(t.nonfinite_mismatched, 1);
  close(t.max_abs, 0.5, 'finite element still measured');
  const allBad = diffStats([NaN], [0]);
  assert.equal(allBad.max_abs, null);
  assert.equal(allBad.cosine, null);
  assert.equal(allBad.passed, false);
});

test('an empty output agrees trivially', () => {
  const s = diffStats([], []);
  assert.equal(s.passed, true);
  assert.equal(s.max_abs, 0);
  assert.equal(s.cosine, 1);
});

test('cosine similarity edge cases', () => {
  assert.equal(cosineSimilarity([0, 0], [0, 0]), 1);
  assert.equal(cosineSimilarity([0, 0], [1, 0]), 0);
  assert.equal(cosineSimilarity([1, 2], [-1, -2]), -1);
  close(cosineSimilarity([1, 0], [1, 1]), Math.SQRT1_2, 'cos 45°');
  assert.throws(() => cosineSimilarity([1], [1, 2]), /length/);
});

test('mismatched lengths and bad tolerances are refused', () => {
  assert.throws(() => diffStats([1], [1, 2]), /cannot compare 1 elements with 2/);
  assert.throws(() => diffStats([1], [1], { atol: -1, rtol: 0 }), /non-negative/);
  assert.throws(() => diffStats([1], [1], { atol: NaN, rtol: 0 }), /non-negative/);
});
