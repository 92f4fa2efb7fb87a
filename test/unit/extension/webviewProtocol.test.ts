import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessagePeer, parseEnvelope, RemoteError, type Envelope, type PeerSpec } from '../../../shared/messagePeer';

interface HostSpec extends PeerSpec {
  requests: { add: { params: { a: number; b: number }; result: number }; fail: { params: Record<string, never>; result: void } };
  events: Record<string, never>;
}
interface ViewSpec extends PeerSpec {
  requests: Record<string, never>;
  events: { state: { n: number } };
}

/** Two peers wired through structured clones, as postMessage would deliver them; delivery is async like the real thing. */
function pair() {
  const toView: Envelope[] = [];
  const toHost: Envelope[] = [];
  let hostPeer!: MessagePeer<HostSpec, ViewSpec>;
  let viewPeer!: MessagePeer<ViewSpec, HostSpec>;
  hostPeer = new MessagePeer<HostSpec, ViewSpec>((m) => {
    toView.push(m);
    queueMicrotask(() => viewPeer.receive(structuredClone(m)));
  }, { waitForReady: true });
  viewPeer = new MessagePeer<ViewSpec, HostSpec>((m) => {
    toHost.push(m);
    queueMicrotask(() => hostPeer.receive(structuredClone(m)));
  }, { waitForReady: false });
  return { hostPeer, viewPeer, toView, toHost };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

test('the host queues events until the webview says ready, then delivers them in order', async () => {
  const { hostPeer, viewPeer, toView } = pair();
  const seen: number[] = [];
  viewPeer.on('state', (s) => seen.push(s.n));
  hostPeer.notify('state', { n: 1 });
  hostPeer.notify('state', { n: 2 });
  await tick();
  assert.equal(toView.length, 0, 'nothing may be posted before ready');
  assert.equal(hostPeer.isReady, false);
  viewPeer.announceReady();
  await tick();
  assert.deepEqual(seen, [1, 2]);
  assert.equal(hostPeer.isReady, true);
});

test('every ready (a recreated webview) fires onReady so the host can resend its state', async () => {
  const { hostPeer, viewPeer } = pair();
  let readies = 0;
  hostPeer.onReady(() => readies++);
  viewPeer.announceReady();
  viewPeer.announceReady();
  await tick();
  assert.equal(readies, 2);
});

test('requests are answered by id; concurrent requests get their own results', async () => {
  const { hostPeer, viewPeer } = pair();
  hostPeer.handle('add', async ({ a, b }) => {
    await tick();
    return a + b;
  });
  viewPeer.announceReady();
  const [x, y] = await Promise.all([viewPeer.request('add', { a: 1, b: 2 }), viewPeer.request('add', { a: 10, b: 20 })]);
  assert.equal(x, 3);
  assert.equal(y, 30);
});

test('a throwing handler becomes an error reply carrying its message', async () => {
  const { hostPeer, viewPeer } = pair();
  hostPeer.handle('fail', () => {
    throw new Error('model.onnx: file not found');
  });
  viewPeer.announceReady();
  await assert.rejects(viewPeer.request('fail', {}), (e: unknown) => e instanceof RemoteError && e.message === 'model.onnx: file not found');
});

test('an unknown method is answered with an error, not silence', async () => {
  const { viewPeer } = pair();
  viewPeer.announceReady();
  await tick();
  await assert.rejects((viewPeer as unknown as MessagePeer<ViewSpec, PeerSpec & { requests: { nope: { params: null; result: null } } }>).request('nope', null), /unknown request 'nope'/);
});

test('dispose rejects pending requests and drops later messages', async () => {
  const posted: Envelope[] = [];
  const peer = new MessagePeer<ViewSpec, HostSpec>((m) => posted.push(m), { waitForReady: false });
  const pending = peer.request('add', { a: 1, b: 1 });
  peer.dispose();
  await assert.rejects(pending, /closed/);
  peer.notify('add' as never, {} as never);
  peer.receive({ kind: 'reply', id: 1, result: 2 });
  assert.equal(posted.length, 1);
  await assert.rejects(peer.request('add', { a: 1, b: 1 }), /closed/);
});

test('parseEnvelope ignores foreign and malformed messages', () => {
  assert.equal(parseEnvelope(null), undefined);
  assert.equal(parseEnvelope('ready'), undefined);
  assert.equal(parseEnvelope({ kind: 'request', id: '1', method: 'x' }), undefined);
  assert.equal(parseEnvelope({ kind: 'request', id: 1.5, method: 'x' }), undefined);
  assert.equal(parseEnvelope({ kind: 'error', id: 1 }), undefined);
  assert.equal(parseEnvelope({ type: 'vscode-internal' }), undefined);
  assert.deepEqual(parseEnvelope({ kind: 'event', name: 'state', payload: { n: 1 }, extra: true }), { kind: 'event', name: 'state', payload: { n: 1 } });
  assert.deepEqual(parseEnvelope({ kind: 'ready' }), { kind: 'ready' });
});

test('a reply for an unknown id is ignored', async () => {
  const posted: Envelope[] = [];
  const peer = new MessagePeer<ViewSpec, HostSpec>((m) => posted.push(m), { waitForReady: false });
  const p = peer.request('add', { a: 2, b: 2 });
  peer.receive({ kind: 'reply', id: 999, result: 0 });
  const sent = posted[0] as Extract<Envelope, { kind: 'request' }>;
  peer.receive({ kind: 'reply', id: sent.id, result: 4 });
  assert.equal(await p, 4);
});
