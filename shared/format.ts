/**
 * Number formatting shared by the webviews, the host's tree labels and the
 * engine's Markdown reports: short forms with exact values available.
 * Browser-safe: imports nothing.
 */

/** 1234 → "1,234"; exact, for tooltips and small counts. */
export function exact(n: number): string {
  return n.toLocaleString('en-US');
}

/** 1234567 → "1.23 M"; below 10 000 the exact count. */
export function shortCount(n: number): string {
  if (Math.abs(n) < 10_000) return exact(n);
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, suffix] of units) if (Math.abs(n) >= scale) return `${trim(n / scale)} ${suffix}`;
  return exact(n);
}

/** Bytes in binary units (what file managers and `ls -h` show): 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${trim(v)} ${units[i]}`;
}

function trim(v: number): string {
  return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)).replace(/\.0+$|(\.\d*?)0+$/, '$1');
}

/** [1, 'batch', null, 224] → "1 × batch × ? × 224"; a scalar → "scalar"; unknown rank → "?". */
export function shape(dims: readonly (number | string | null)[] | null): string {
  if (dims === null) return '?';
  if (dims.length === 0) return 'scalar';
  return dims.map((d) => (d === null ? '?' : String(d))).join(' × ');
}

export function num(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined) return '—';
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(digits - 1) : v.toPrecision(digits);
}
