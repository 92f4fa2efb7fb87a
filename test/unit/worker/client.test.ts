import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledError, ModelFuseError } from '../../../extension/engine/errors';
import { WorkerCrashedError, WorkerRequestError } from '../../../extension/protocol/workerProtocol';
import { WorkerClient } from '../../../extension/workerClient/client';
import { matmulInWorker } from '../../../extension/workerClient/api';
import type { WorkerMethod } from '../../../extension/protocol/workerMethods';
import { fixture, tempDir } from '../helpers/fixtures';
import { testBundles } from './bundles';

const MODEL = fixture('zoo_conv_bn_relu', 'model.onnx');

function newClient(extra: ConstructorParameters<typeof WorkerClient>[0] = {}): WorkerClient {
  return new WorkerClient({ workerPath: testBundles().worker, env: { MODELFUSE_WORKER_DEBUG: '1' }, threads: 1, ...extra });
}

test('the worker starts on first need, answers the ready handshake and is reused', async () => {
  const client = newClient();
  try {
    assert.equal(client.running, false, 'nothing runs before the first request');
    const first = await client.request('worker/ping', {});
    assert.notEqual(first.pid, process.pid, 'the worker is another process');
    assert.ok(first.methods.includes('verify/run') && first.methods.includes('debug/crash'));
    assert.equal(first.threads, 1);
    const second = await client.request('worker/ping', {});
    assert.equal(second.pid, first.pid, 'same process for the next request');
    assert.equal(client.pid, first.pid);
  } finally {
    await client.dispose();
  }
});

/** Every method of the table, once: the compiler refuses this object when a method is added to or removed from it. */
const TABLE: Record<WorkerMethod, true> = {
  'worker/ping': true, 'model/overview': true, 'model/inspectModule': true, 'inputs/plan': true,
  'verify/run': true, 'optimize/run': true, 'latency/measure': true, 'matmul/run': true, 'fusion/fuse': true,
  'lora/plan': true, 'lora/merge': true, 'lora/mappingTable': true, 'lora/probeBases': true,
  'graph/open': true, 'graph/layout': true, 'graph/node': true, 'graph/diff': true, 'graph/drift': true,
  'diff/params': true, 'debug/crash': true, 'debug/sleep': true,
};

test('the worker serves exactly the methods of the table (protocol/workerMethods.ts), all named domain/verb', async () => {
  const client = newClient();
  try {
    const { methods } = await client.request('worker/ping', {});
    assert.deepEqual(methods, Object.keys(TABLE).sort());
    assert.ok(methods.every((m) => /^[a-z]+\/[a-z][A-Za-z]*$/.test(m)), methods.join(', '));
  } finally {
    await client.dispose();
  }
});

test('a native crash (abort) rejects every request in flight with a clear error; the next request gets a new worker', async () => {
  const client = newClient();
  const crashes: string[] = [];
  client.onDidCrash((m) => crashes.push(m));
  try {
    const before = await client.request('worker/ping', {});
    const sleeping = client.request('debug/sleep', { ms: 60_000, steps: 600 });
    const crash = client.request('debug/crash', {});
    await assert.rejects(crash, (e: Error) => {
      assert.ok(e instanceof WorkerCrashedError, String(e));
      assert.match(e.message, /^the ONNX Runtime worker crashed \(killed by SIGABRT.*\); it will be restarted$/);
      return true;
    });
    await assert.rejects(sleeping, WorkerCrashedError, 'the other request in flight is rejected too');
    assert.equal(crashes.length, 1);
    // this very process (the "host") is alive and the client still works
    const after = await client.request('worker/ping', {});
    assert.notEqual(after.pid, before.pid, 'a new worker process');
    const report = await client.request('verify/run', { modelA: MODEL, modelB: MODEL, runs: 0 });
    assert.equal(report.passed, true, 'the restarted worker runs ONNX Runtime');
  } finally {
    await client.dispose();
  }
});

test('a worker killed in the middle of an ONNX Runtime verify (as by the OOM killer) fails that request only', async () => {
  const client = newClient();
  try {
    let killed = false;
    const p = client.request('verify/run', { modelA: MODEL, modelB: MODEL, runs: 1_000_000 }, {
      onProgress: (m) => {
        if (!killed && m.message.startsWith('running A at ORT level disabled')) {
          killed = true;
          process.kill(client.pid!, 'SIGKILL');
        }
      },
    });
    await assert.rejects(p, /^WorkerCrashedError: the ONNX Runtime worker crashed \(killed by SIGKILL\); it will be restarted$/);
    const report = await client.request('verify/run', { modelA: MODEL, modelB: MODEL, runs: 1 });
    assert.equal(report.passed, true);
    assert.ok(report.latency_ms!.a.disabled > 0);
  } finally {
    await client.dispose();
  }
});

test('a worker that exits with a code is reported with that code', async () => {
  const client = newClient();
  try {
    await assert.rejects(client.request('debug/crash', { how: 'exit' }), /the ONNX Runtime worker crashed \(exit code 70\); it will be restarted/);
    assert.equal((await client.request('worker/ping', {})).pid, client.pid);
  } finally {
    await client.dispose();
  }
});

test('cancel: the handler stops between steps, the promise rejects with CancelledError, the worker lives on', async () => {
  const client = newClient();
  try {
    const { pid } = await client.request('worker/ping', {});
    const abort = new AbortController();
    const progress: string[] = [];
    const p = client.request('debug/sleep', { ms: 60_000, steps: 600 }, {
      token: abort.signal,
      onProgress: (m) => {
        progress.push(m.message);
        abort.abort();
      },
    });
    await assert.rejects(p, CancelledError);
    assert.equal(progress[0], 'sleeping (1/600)');
    assert.ok(progress.length < 5, `stopped promptly after ${progress.length} steps`);
    assert.equal((await client.request('worker/ping', {})).pid, pid, 'same worker after a cancel');
  } finally {
    await client.dispose();
  }
});

test('cancel a real verify between timed runs, with a VS Code style token', async () => {
  const client = newClient();
  try {
    let cancel = () => {};
    const token = {
      isCancellationRequested: false,
      onCancellationRequested(listener: (e: unknown) => unknown) {
        cancel = () => {
          token.isCancellationRequested = true;
          listener(undefined);
        };
        return { dispose: () => (cancel = () => {}) };
      },
    };
    const seen: string[] = [];
    const p = client.request('verify/run', { modelA: MODEL, modelB: MODEL, runs: 1_000_000 }, {
      token,
      onProgress: (m) => {
        seen.push(m.message);
        if (m.message.startsWith('running A at ORT level disabled')) cancel();
      },
    });
    await assert.rejects(p, CancelledError);
    assert.ok(seen.includes('running A at ORT level disabled (1/1000000)'), seen.join(' | '));
    assert.ok(!seen.some((s) => s.includes('(100/1000000)')), 'stopped long before the end');
    await assert.rejects(client.request('worker/ping', {}, { token }), CancelledError, 'an already-cancelled token is refused at once');
  } finally {
    await client.dispose();
  }
});

test("user errors arrive as one-line ModelFuseErrors naming the file; unknown methods are the caller's bug", async () => {
  const client = newClient();
  const dir = tempDir();
  const corrupt = path.join(dir, 'corrupt.onnx');
  fs.writeFileSync(corrupt, Buffer.from('this is not a protobuf model at all'));
  try {
    await assert.rejects(client.request('verify/run', { modelA: path.join(dir, 'missing.onnx'), modelB: MODEL }), (e: Error) => {
      assert.ok(e instanceof ModelFuseError);
      assert.equal(e.message, `${path.join(dir, 'missing.onnx')}: file not found`);
      return true;
    });
    await assert.rejects(client.request('verify/run', { modelA: MODEL, modelB: corrupt }), (e: Error) => {
      assert.ok(e instanceof ModelFuseError);
      assert.match(e.message, /corrupt\.onnx: ONNX Runtime cannot load this model: /);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
    await assert.rejects(client.request('nope' as 'worker/ping', {}), (e: Error) => e instanceof WorkerRequestError && e.code === 'unknown-method' && /no 'nope' method/.test(e.message));
  } finally {
    await client.dispose();
  }
});

test('matmul: ONNX Runtime MatMul matches a float64 reference; operands cross as typed arrays', async () => {
  const client = newClient();
  try {
    const [m, k, n] = [37, 19, 23];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    const c = await matmulInWorker(client, a, b, m, k, n);
    assert.ok(c instanceof Float32Array && c.length === m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let ref = 0;
        for (let t = 0; t < k; t++) ref += a[i * k + t] * b[t * n + j];
        assert.ok(Math.abs(c[i * n + j] - ref) <= 1e-5 * Math.max(1, Math.abs(ref)), `C[${i},${j}] = ${c[i * n + j]}, expected ${ref}`);
      }
    }
    await assert.rejects(matmulInWorker(client, a, b, m, k + 1, n), /matmul: A must be a Float32Array of 37×20/);
  } finally {
    await client.dispose();
  }
});

test('dispose rejects what is in flight and refuses new requests', async () => {
  const client = newClient();
  const p = client.request('debug/sleep', { ms: 60_000, steps: 600 });
  await client.start();
  await client.dispose();
  await assert.rejects(p, /the ONNX Runtime worker was stopped before the request finished/);
  await assert.rejects(client.request('worker/ping', {}), /disposed/);
});

test('a worker that dies before saying ready is reported with its last words', async () => {
  const dir = tempDir();
  const bad = path.join(dir, 'bad-worker.js');
  fs.writeFileSync(bad, "process.stderr.write('Error: cannot find module onnxruntime_binding.node\\n'); process.exit(3);\n");
  const client = new WorkerClient({ workerPath: bad });
  await assert.rejects(client.request('worker/ping', {}), /the ONNX Runtime worker failed to start \(exit code 3; last output: "Error: cannot find module onnxruntime_binding.node"\)/);
  await client.dispose();
  await assert.rejects(new WorkerClient({ workerPath: path.join(dir, 'none.js') }).request('worker/ping', {}), /worker bundle is missing .*none\.js.*npm run build/);
});
