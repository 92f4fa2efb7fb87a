/**
 * The message channel between the extension host and its webviews, written
 * once and used by both sides (the shape of microsoft/vscode-hexeditor's
 * shared/protocol.ts and the ready gate of vscode-pull-request-github's
 * WebviewBase).
 *
 * Every postMessage carries an Envelope. Requests have ids and are answered
 * by exactly one `reply` or `error` with the same id; events are one-way.
 * A webview's script starts later than the host's first wish to talk to it,
 * and it restarts whenever VS Code recreates a hidden webview: so the host
 * queues everything until the webview sends `ready`, and re-sends its state
 * on every `ready` (see `MessagePeer.onReady`).
 *
 * This module imports neither `vscode` nor the DOM: the host wraps a
 * `vscode.Webview`, the webview wraps `acquireVsCodeApi()`, tests wrap
 * arrays.
 */

/** What goes through postMessage. `ready` is the handshake, sent by the webview. */
export type Envelope =
  | { kind: 'ready' }
  | { kind: 'request'; id: number; method: string; params: unknown }
  | { kind: 'reply'; id: number; result: unknown }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'event'; name: string; payload: unknown };

/** method → its params and result. */
export type RequestMap = Record<string, { params: unknown; result: unknown }>;
/** event name → its payload. */
export type EventMap = Record<string, unknown>;

/** What one side of a channel handles: the requests it answers and the events it listens to. */
export interface PeerSpec {
  requests: RequestMap;
  events: EventMap;
}

/** Thrown by `request` when the other side replies with an error, or the peer is disposed. */
export class RemoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** Parses anything that arrived through postMessage; undefined when it is not one of ours. */
export function parseEnvelope(raw: unknown): Envelope | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  const isId = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  switch (m.kind) {
    case 'ready':
      return { kind: 'ready' };
    case 'request':
      return isId(m.id) && typeof m.method === 'string' ? { kind: 'request', id: m.id as number, method: m.method, params: m.params } : undefined;
    case 'reply':
      return isId(m.id) ? { kind: 'reply', id: m.id as number, result: m.result } : undefined;
    case 'error':
      return isId(m.id) && typeof m.message === 'string' ? { kind: 'error', id: m.id as number, message: m.message } : undefined;
    case 'event':
      return typeof m.name === 'string' ? { kind: 'event', name: m.name, payload: m.payload } : undefined;
    default:
      return undefined;
  }
}

type Handler = (params: unknown) => unknown | Promise<unknown>;
type Listener = (payload: unknown) => void;

export interface MessagePeerOptions {
  /** Hold outgoing messages until the other side sends `ready` (the host side does this). */
  waitForReady: boolean;
  /** Where a handler's unexpected (non-Error-message) failure is reported; the reply still goes out. */
  onHandlerError?: (method: string, err: unknown) => void;
}

/**
 * One end of a typed channel. `Mine` is what this side handles, `Theirs`
 * what the other side handles: `request` and `notify` are typed by `Theirs`,
 * `handle` and `on` by `Mine`.
 */
export class MessagePeer<Mine extends PeerSpec, Theirs extends PeerSpec> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly handlers = new Map<string, Handler>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly readyListeners = new Set<() => void>();
  private queue: Envelope[] | undefined;
  private disposed = false;

  constructor(
    private readonly post: (message: Envelope) => void,
    private readonly options: MessagePeerOptions,
  ) {
    this.queue = options.waitForReady ? [] : undefined;
  }

  /** True once the other side said `ready` (always true when not waiting for it). */
  get isReady(): boolean {
    return this.queue === undefined;
  }

  /** The webview side calls this once its listeners are installed. */
  announceReady(): void {
    this.post({ kind: 'ready' });
  }

  request<M extends keyof Theirs['requests'] & string>(method: M, params: Theirs['requests'][M]['params']): Promise<Theirs['requests'][M]['result']> {
    if (this.disposed) return Promise.reject(new RemoteError('the view was closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.send({ kind: 'request', id, method, params });
    });
  }

  notify<E extends keyof Theirs['events'] & string>(name: E, payload: Theirs['events'][E]): void {
    if (this.disposed) return;
    this.send({ kind: 'event', name, payload });
  }

  handle<M extends keyof Mine['requests'] & string>(
    method: M,
    handler: (params: Mine['requests'][M]['params']) => Mine['requests'][M]['result'] | Promise<Mine['requests'][M]['result']>,
  ): void {
    this.handlers.set(method, handler as Handler);
  }

  on<E extends keyof Mine['events'] & string>(name: E, listener: (payload: Mine['events'][E]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  /** Called on every `ready` from the other side (first load and every reload of the webview). */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  /** Feed every received postMessage here. Unknown shapes are ignored (a webview may receive VS Code's own messages). */
  receive(raw: unknown): void {
    if (this.disposed) return;
    const msg = parseEnvelope(raw);
    if (!msg) return;
    switch (msg.kind) {
      case 'ready': {
        const queued = this.queue;
        this.queue = undefined;
        for (const m of queued ?? []) this.post(m);
        for (const l of [...this.readyListeners]) l();
        return;
      }
      case 'reply':
      case 'error': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.kind === 'reply') p.resolve(msg.result);
        else p.reject(new RemoteError(msg.message));
        return;
      }
      case 'event':
        for (const l of [...(this.listeners.get(msg.name) ?? [])]) l(msg.payload);
        return;
      case 'request':
        void this.answer(msg.id, msg.method, msg.params);
        return;
    }
  }

  /** Rejects every pending request; later messages are dropped. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.pending.values()) p.reject(new RemoteError('the view was closed'));
    this.pending.clear();
    this.queue = undefined;
  }

  private async answer(id: number, method: string, params: unknown): Promise<void> {
    const handler = this.handlers.get(method);
    if (!handler) {
      this.send({ kind: 'error', id, message: `unknown request '${method}'` });
      return;
    }
    try {
      const result = await handler(params);
      this.send({ kind: 'reply', id, result });
    } catch (err) {
      this.options.onHandlerError?.(method, err);
      this.send({ kind: 'error', id, message: err instanceof Error ? err.message : String(err) });
    }
  }

  private send(message: Envelope): void {
    if (this.disposed) return;
    if (this.queue) this.queue.push(message);
    else this.post(message);
  }
}
