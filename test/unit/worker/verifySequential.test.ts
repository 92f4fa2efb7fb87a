/**
 * verify at the cost of running the two models (workerProcess/ort/verify.ts): the
 * sessions run one after the other (A is done with before B is loaded), each
 * output is compared and dropped in turn, and latency runs stop at a time
 * budget. Real ONNX Runtime in this process; no wall-clock assertions (the
 * budget is tested with 0 ms, where the count is certain).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { verifyModels, compareOutputs } from '../../../extension/workerProcess/ort/verify';
import { timeInterleaved } from '../../../extension/workerProcess/ort/latency';
import { createSession, releaseSession } from '../../../extension/workerProcess/ort/runtime';
import { feedsOf, sessionInputs } from '../../../extension/workerProcess/ort/tensors';
import { randomInputs } from '../../../extension/engine/stats/inputs';
import { fixture } from '../helpers/fixtures';

const MODEL = fixture('zoo_conv_bn_relu', 'model.onnx');

function recorder(): { messages: string[]; control: { progress: (m: string) => void; throwIfCancelled: () => void } } {
  const messages: string[] = [];
  return { messages, control: { progress: (m: string) => messages.push(m), throwIfCancelled: () => undefined } };
}

test('verify: A is loaded, run and timed before B is loaded; at level all too; the report is complete', async () => {
  const { messages, control } = recorder();
  const report = await verifyModels({ modelA: MODEL, modelB: MODEL, runs: 2, warmups: 0 }, control);
  assert.equal(report.passed, true);
  assert.ok(Object.keys(report.outputs).length > 0);
  assert.ok(report.latency_ms && report.latency_ms.runs === 2 && report.latency_ms.a.disabled > 0 && report.latency_ms.b.all > 0);
  const at = (prefix: string): number => {
    const i = messages.findIndex((m) => m.startsWith(prefix));
    assert.ok(i >= 0, `no progress '${prefix}' in ${JSON.stringify(messages)}`);
    return i;
  };
  const order = ['loading A', 'running A', 'running A at ORT level disabled', 'loading B', 'running B', 'comparing outputs', 'running B at ORT level disabled', 'loading A at ORT level all', 'loading B at ORT level all'].map(at);
  assert.deepEqual(order, [...order].sort((x, y) => x - y), JSON.stringify(messages));
  // Nothing of A runs once B is loaded.
  assert.ok(messages.slice(at('loading B'), at('loading A at ORT level all')).every((m) => !/\bA\b/.test(m)), JSON.stringify(messages));
});

test('verify --runs 0: two sessions, one after the other, no timing', async () => {
  const { messages, control } = recorder();
  const report = await verifyModels({ modelA: MODEL, modelB: MODEL, runs: 0 }, control);
  assert.equal(report.latency_ms, null);
  assert.deepEqual(messages.filter((m) => m.startsWith('loading')), ['loading A', 'loading B']);
});

test('latency runs stop at the time budget, never before the minimum; without a budget all are made', async () => {
  const session = await createSession(MODEL, 'disabled');
  try {
    const feeds = feedsOf(randomInputs(sessionInputs(session, MODEL), {}).tensors);
    const target = [{ label: 'A', session, modelPath: MODEL, feeds }];
    const { control } = recorder();
    const [cut] = await timeInterleaved(target, 10, 0, control, '', { budgetMs: 0, minRuns: 2 });
    assert.equal(cut.runs, 2);
    assert.ok(cut.min_ms <= cut.median_ms && cut.median_ms <= cut.max_ms);
    const [all] = await timeInterleaved(target, 4, 0, control);
    assert.equal(all.runs, 4);
  } finally {
    await releaseSession(session);
  }
});

test('compareOutputs: each output is produced when compared and handed back once; same result as eager values', () => {
  const v = (values: number[], dims = [values.length]) => ({ dtype: 'float32', dims, values: Float64Array.from(values) });
  const a = [['y', v([1, 2, 3])], ['z', v([0, 0])], ['only_a', v([1])]] as const;
  const b = [['y', v([1, 2, 3.5])], ['z', v([0, 0, 0], [3])], ['only_b', v([2])]] as const;
  const produced: string[] = [];
  const done: string[] = [];
  const lazy = (list: typeof a | typeof b, side: string) => list.map(([n, x]) => [n, () => (produced.push(`${side}:${n}`), x)] as const);
  const got = compareOutputs(lazy(a, 'A'), lazy(b, 'B'), { atol: 1e-4, rtol: 1e-3 }, (n) => done.push(n));
  assert.deepEqual(got, compareOutputs(a, b, { atol: 1e-4, rtol: 1e-3 }));
  assert.deepEqual(done, ['y', 'z', 'only_a']);
  assert.deepEqual(produced, ['A:y', 'B:y', 'A:z', 'B:z', 'A:only_a', 'B:only_b']);
  assert.equal(got.y.passed, false);
  assert.match(got.z.reason ?? '', /shape/);
  assert.equal(got.only_b.reason, 'extra output in B (not in A)');
});
