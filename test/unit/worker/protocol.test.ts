import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import { CancelledError, ModelFuseError } from '../../../extension/engine/errors';
import {
  errorToPayload, isHostToWorker, isWorkerToHost, payloadToError, WorkerCrashedError, WorkerRequestError,
  type HostToWorker, type WorkerToHost,
} from '../../../extension/protocol/workerProtocol';

/** What Node's IPC with serialization 'advanced' does to a message. */
const overTheWire = <T>(msg: T): T => v8.deserialize(v8.serialize(msg)) as T;

test('requests, cancels and replies survive the structured-clone channel and are recognized', () => {
  const a = Float32Array.from([1.5, -2, 3]);
  const req: HostToWorker = { type: 'request', id: 7, method: 'matmul/run', params: { a, b: new Float32Array(3), m: 1, k: 3, n: 1 } };
  const back = overTheWire(req);
  assert.ok(isHostToWorker(back));
  const params = (back as { params: { a: Float32Array } }).params;
  assert.ok(params.a instanceof Float32Array, 'typed arrays stay typed arrays (binary, not JSON lists)');
  assert.deepEqual([...params.a], [1.5, -2, 3]);
  assert.ok(isHostToWorker(overTheWire({ type: 'cancel', id: 7 })));

  const replies: WorkerToHost[] = [
    { type: 'ready', protocol: 1, pid: 123, methods: ['verify'] },
    { type: 'progress', id: 7, message: 'running A (3/20)', done: 2, total: 20 },
    { type: 'response', id: 7, result: { c: new Float32Array([4]) } },
    { type: 'response', id: 8, error: { message: 'a.onnx: file not found', code: 'user', exitCode: 2 } },
  ];
  for (const r of replies) {
    const b = overTheWire(r);
    assert.ok(isWorkerToHost(b), JSON.stringify(r));
    assert.deepEqual(b, r);
  }
});

test('malformed messages are rejected', () => {
  for (const bad of [null, 1, 'x', {}, { type: 'request', id: -1, method: 'x' }, { type: 'request', id: 1 }, { type: 'cancel' }, { type: 'nope', id: 1 }]) {
    assert.equal(isHostToWorker(bad), false, JSON.stringify(bad));
  }
  for (const bad of [null, { type: 'ready' }, { type: 'progress', id: 1 }, { type: 'response', id: 1, error: { message: 'x' } }, { type: 'request', id: 1, method: 'x' }]) {
    assert.equal(isWorkerToHost(bad), false, JSON.stringify(bad));
  }
});

test('errors round-trip: user errors keep message and exit code, cancels stay cancels, bugs are labelled', () => {
  const user = payloadToError(overTheWire(errorToPayload(new ModelFuseError('m.onnx: file not found', { exitCode: 2 }))), 'verify');
  assert.ok(user instanceof ModelFuseError);
  assert.equal(user.message, 'm.onnx: file not found');
  assert.equal((user as ModelFuseError).exitCode, 2);

  assert.ok(payloadToError(errorToPayload(new CancelledError()), 'verify') instanceof CancelledError);

  const bug = payloadToError(errorToPayload(new TypeError("Cannot read properties of undefined (reading 'x')\n    at f")), 'verify');
  assert.ok(bug instanceof WorkerRequestError);
  assert.equal((bug as WorkerRequestError).code, 'internal');
  assert.equal(bug.message, "internal error in the worker's 'verify' handler: Cannot read properties of undefined (reading 'x')");

  const unknown = payloadToError(errorToPayload(new WorkerRequestError('no such method', 'unknown-method')), 'x');
  assert.equal((unknown as WorkerRequestError).code, 'unknown-method');

  const crashed = payloadToError({ message: 'gone', code: 'crashed' }, 'verify');
  assert.ok(crashed instanceof WorkerCrashedError && crashed instanceof ModelFuseError);
  assert.equal((crashed as ModelFuseError).exitCode, 3);
});
