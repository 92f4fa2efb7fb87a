/**
 * What every bench compares against, and how it measures processes:
 *
 * - the physical floor of rewriting files: a streaming copy of the same bytes
 *   through one reused buffer (what `cp` does; no allocation per file or
 *   tensor, so it costs the disk and the page cache, nothing else);
 * - CPU time and peak RSS of a process by pid (a child's own, or the ORT
 *   worker's), from /proc, and the machine's load average, since on a shared
 *   machine wall times measure the neighbours too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** The copy buffer: the same size the engine's own range copies use. */
const COPY_BUFFER_BYTES = 4 * 2 ** 20;

/** Copies each file of `pairs` (source → destination) through one reused buffer; returns the bytes copied. */
export function streamingCopy(pairs: readonly (readonly [string, string])[]): number {
  const buf = Buffer.allocUnsafeSlow(COPY_BUFFER_BYTES);
  let total = 0;
  for (const [from, to] of pairs) {
    const src = fs.openSync(from, 'r');
    const dst = fs.openSync(to, 'w');
    try {
      let pos = 0;
      for (;;) {
        const n = fs.readSync(src, buf, 0, buf.length, pos);
        if (n === 0) break;
        let put = 0;
        while (put < n) put += fs.writeSync(dst, buf, put, n - put, pos + put);
        pos += n;
      }
      total += pos;
    } finally {
      fs.closeSync(src);
      fs.closeSync(dst);
    }
  }
  return total;
}

/** Peak resident set (VmHWM) of a live process in bytes; this process by default. null off Linux. */
export function peakRss(pid: number | 'self' = 'self'): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, all threads) a live process has used so far, in ms; null off Linux. */
export function processCpuMs(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100/s)
  } catch {
    return null;
  }
}

/** "1.23 0.98 0.75 on 2 CPUs": the 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return `${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`;
}

/** "met" / "NOT met" for a ratio against its bound. */
export function verdict(ratio: number, bound: number, strict = false): string {
  return (strict ? ratio < bound : ratio <= bound) ? 'met' : 'NOT met';
}
