/**
 * Names come from model files: control characters are shown escaped, never
 * sent to the terminal. Everything the CLI prints of a file goes through it.
 */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
