/**
 * The host half of a webview (the shape of vscode-pull-request-github's
 * WebviewBase): sets the webview's options and HTML, owns the typed
 * MessagePeer that queues messages until the page says `ready`, and disposes
 * everything with the panel. Subclass-free: the editor and other panels
 * create one and register their handlers on `peer`.
 */
import * as vscode from 'vscode';
import { MessagePeer, type PeerSpec } from '../../shared/messagePeer';
import { makeNonce, webviewHtml } from './webviewHtml';
import { log } from './log';
import { forWebview } from './webviewPaths';

export interface WebviewHostOptions {
  extensionUri: vscode.Uri;
  /** Bundle name under dist/webview/ (`overview` → dist/webview/overview.js). */
  bundle: string;
  /** Stylesheets under media/. */
  styles: string[];
  title: string;
  /** The model files the page is about: their folders are hidden like the workspace's (see webviewPaths.ts). */
  files?: () => readonly string[];
}

export class WebviewHost<Mine extends PeerSpec, Theirs extends PeerSpec> implements vscode.Disposable {
  readonly peer: MessagePeer<Mine, Theirs>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly webview: vscode.Webview, options: WebviewHostOptions) {
    const media = vscode.Uri.joinPath(options.extensionUri, 'media');
    const dist = vscode.Uri.joinPath(options.extensionUri, 'dist');
    webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [media, dist] };
    // Every message, answers and errors included, leaves without absolute paths (remote workspaces, privacy).
    this.peer = new MessagePeer<Mine, Theirs>((m) => void webview.postMessage(forWebview(m, options.files?.() ?? [])), {
      waitForReady: true,
      onHandlerError: (method, err) => log().debug(`webview request '${method}' failed: ${err instanceof Error ? err.message : String(err)}`),
    });
    this.disposables.push(webview.onDidReceiveMessage((m) => this.peer.receive(m)));
    webview.html = webviewHtml({
      title: options.title,
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview', `${options.bundle}.js`)).toString(),
      styleUris: options.styles.map((s) => webview.asWebviewUri(vscode.Uri.joinPath(media, s)).toString()),
    });
  }

  dispose(): void {
    this.peer.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
