/**
 * The HTML shell of every ModelFuse webview: a strict Content-Security-Policy
 * (nothing by default; scripts only with this page's nonce; styles only from
 * the extension's own files and nonce'd tags; images and fonts only from the
 * extension), one stylesheet list, one script bundle, and `#root` for the UI.
 * Pure: the host passes the URIs and the webview's `cspSource`.
 */
import { randomBytes } from 'node:crypto';

export interface WebviewPage {
  title: string;
  /** `webview.cspSource`: the origin VS Code serves `localResourceRoots` from. */
  cspSource: string;
  nonce: string;
  /** `webview.asWebviewUri(...)` strings. */
  scriptUri: string;
  styleUris: string[];
}

/** 128 random bits, hex: a fresh nonce for every page load. */
export function makeNonce(): string {
  return randomBytes(16).toString('hex');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function webviewHtml(page: WebviewPage): string {
  const attr = escapeAttribute;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(page.cspSource, page.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${page.styleUris.map((u) => `<link rel="stylesheet" href="${attr(u)}">`).join('\n')}
<title>${escapeText(page.title)}</title>
</head>
<body>
<div id="root"></div>
<script nonce="${attr(page.nonce)}" src="${attr(page.scriptUri)}"></script>
</body>
</html>`;
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}
