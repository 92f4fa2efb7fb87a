/**
 * The webview half of the host ↔ webview channel: wraps VS Code's
 * `acquireVsCodeApi()` in a typed MessagePeer and announces `ready` once the
 * listener is installed, so the host (which queues until then) never posts
 * into the void. Every webview bundle calls `connectToHost()` exactly once.
 */
import { MessagePeer, type PeerSpec } from '../../shared/messagePeer';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

/** `acquireVsCodeApi` may be called only once per webview; everything goes through this. */
export function vscodeApi(): VsCodeApi {
  return (api ??= acquireVsCodeApi());
}

/**
 * `Mine` is what this webview handles (events from the host), `Theirs` what
 * the host handles (the webview's requests). Register listeners with `on`
 * before the host's first event can arrive: i.e. synchronously after this call.
 */
export function connectToHost<Mine extends PeerSpec, Theirs extends PeerSpec>(): MessagePeer<Mine, Theirs> {
  const vscode = vscodeApi();
  const peer = new MessagePeer<Mine, Theirs>((m) => vscode.postMessage(m), { waitForReady: false });
  window.addEventListener('message', (e: MessageEvent) => peer.receive(e.data));
  // Announce after the current task so that the caller's `on(...)` registrations run first.
  queueMicrotask(() => peer.announceReady());
  return peer;
}
