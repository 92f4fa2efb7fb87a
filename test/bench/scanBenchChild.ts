/**
 * One measurement in a fresh process (so peak RSS is this operation's alone):
 *   readFile FILE      — fs.promises.readFile of the .onnx (the physical floor)
 *   readFileSync FILE  — the same, synchronously (what OnnxModel.load does)
 *   scan FILE   — OnnxModel.load + scanModel, exactly what `modelfuse scan` does
 * Prints one JSON line: wall time, CPU time (user + system; less disturbed
 * when other processes share the machine), peak RSS, RSS before starting, and bytes
 * the process read during the operation (/proc/self/io rchar, Linux).
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { scanModel } from '../../extension/engine/fusion/scan';

function bytesRead(): number | null {
  try {
    const m = /rchar:\s*(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Peak RSS of this process: VmHWM. Not process.resourceUsage().maxRSS — Linux
 * keeps ru_maxrss across execve, so a child would report its parent's peak.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  const rssBefore = process.memoryUsage().rss;
  const read0 = bytesRead();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let candidates = 0;
  let loadMs = 0;
  if (mode === 'readFile') {
    await fs.promises.readFile(file);
  } else if (mode === 'readFileSync') {
    fs.readFileSync(file);
  } else {
    const model = OnnxModel.load(file, { weights: 'on-demand' }); // as scanCommand.ts loads it
    loadMs = performance.now() - t0;
    candidates = scanModel(model).candidates.length;
    model.close();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const read1 = bytesRead();
  const out = { ms, cpuMs, loadMs, maxRss: peakRss(), rssBefore, bytesRead: read0 !== null && read1 !== null ? read1 - read0 : null, candidates };
  process.stdout.write(JSON.stringify(out) + '\n');
}

void main();
