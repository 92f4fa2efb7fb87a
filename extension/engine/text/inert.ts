/**
 * Generated text stays inert: names from untrusted files (model paths, module
 * and tensor names) are pasted into Python snippets, Markdown reports and
 * one-line messages. A newline, carriage return, C1 control (U+0085 is a line
 * break for many editors) or Unicode line/paragraph separator must never
 * start a new line of code or break a table; each is written as a visible
 * escape instead (`\n`, `\x85`, `\u2028`).
 */
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

export function escapeControls(s: string): string {
  return s.replace(CONTROLS, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

/** Text for one Markdown table cell or line: controls escaped, no cell break (`|`), no HTML (`<`, `&`), no code-span break (`` ` ``). */
export function markdownText(s: string): string {
  return escapeControls(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\|/g, '\\|').replace(/`/g, "\\`");
}
