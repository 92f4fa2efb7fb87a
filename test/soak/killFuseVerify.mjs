// Soak test (issue 14), run by .ci/run after `npm test`: 50 `fuse --verify` runs started and killed at
// random (seeded) moments with SIGINT, SIGTERM or SIGKILL. After each run no process of that run may be
// left (the worker's watchdog ends a worker whose CLI was SIGKILLed), and no temporary may be left unless
// the CLI was SIGKILLed; the next write into the folder must clear what a SIGKILL left. The output is
// either absent or complete and verified (never half-written).
//
//   node test/soak/killFuseVerify.mjs [runs=50] [seed=14]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const runs = Number(process.argv[2] ?? 50);
let seed = Number(process.argv[3] ?? 14);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const CLI = path.resolve('dist/cli.js');
const MODEL = path.resolve('test/fixtures/zoo_resstyle/model.onnx');
const TAG_ENV = 'MODELFUSE_TEST_RUN_TAG';
const TEMP = /^\..+\.tmp-\d+-[0-9a-f]{8}/;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-soak-'));

function tagged(tag) {
  const found = [];
  for (const e of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (!fs.readFileSync(`/proc/${e}/environ`, 'latin1').split('\0').includes(`${TAG_ENV}=${tag}`)) continue;
      if (/\) Z /.test(fs.readFileSync(`/proc/${e}/stat`, 'latin1'))) continue;
      found.push(Number(e));
    } catch {
      // gone
    }
  }
  return found;
}

async function settle(tag) {
  for (let i = 0; i < 50; i++) {
    const left = tagged(tag);
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return tagged(tag);
}

function run(args, killAt, signal) {
  const tag = randomBytes(6).toString('hex');
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, [TAG_ENV]: tag }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const timer = killAt === null ? null : setTimeout(() => child.exitCode === null && child.kill(signal), killAt);
  return new Promise((resolve) => child.on('close', (code, sig) => { clearTimeout(timer); resolve({ code, sig, stderr, tag }); }));
}

// Kill moments spread over one whole run on this machine (measured, not guessed), a little past its end
// so that "the output was just placed, the command has not ended" is hit too.
const started = Date.now();
const probe = await run(['fuse', MODEL, '-o', 'probe.onnx', '--verify', '--runs', '0'], null);
if (probe.code !== 0) throw new Error(`soak: the uninterrupted run failed: ${probe.stderr}`);
const runMs = Date.now() - started;
// The fuse is deterministic: every output any run leaves must be byte for byte this one (never half-written).
const complete = fs.readFileSync(path.join(dir, 'probe.onnx'));
fs.rmSync(path.join(dir, 'probe.onnx'));

const failures = [];
const counts = { SIGINT: 0, SIGTERM: 0, SIGKILL: 0, finished: 0, leftAfterKill: 0, cleared: 0 };
const signals = ['SIGINT', 'SIGTERM', 'SIGKILL'];
for (let i = 0; i < runs; i++) {
  const out = `out-${i}.onnx`;
  const signal = signals[i % 3];
  const killAt = Math.floor(random() * runMs * 1.1); // from "still loading" through "verifying in ONNX Runtime" to "written"
  const r = await run(['fuse', MODEL, '-o', out, '--verify', '--runs', '0'], killAt, signal);
  const left = await settle(r.tag);
  if (left.length) failures.push(`run ${i} (${signal} at ${killAt} ms): processes left ${left.join(', ')}`);
  const temps = fs.readdirSync(dir).filter((f) => TEMP.test(f));
  const finished = r.code === 0;
  if (finished) counts.finished++;
  else counts[signal]++;
  // Exit 130/143 from our handlers; or the signal's default action when it came before the CLI had started its command.
  if (!finished && r.sig !== signal && ![130, 143].includes(r.code)) failures.push(`run ${i} (${signal} at ${killAt} ms): exit ${r.code} ${r.sig ?? ''}: ${r.stderr.trim()}`);
  if (fs.existsSync(path.join(dir, out)) && !finished && r.code !== null) failures.push(`run ${i}: ${out} exists though the run did not succeed (exit ${r.code})`);
  if (fs.existsSync(path.join(dir, out)) && !fs.readFileSync(path.join(dir, out)).equals(complete)) failures.push(`run ${i} (${signal} at ${killAt} ms): ${out} is not the complete output`);
  if (finished && !fs.existsSync(path.join(dir, out))) failures.push(`run ${i}: exit 0 but ${out} is missing`);
  if (temps.length && signal !== 'SIGKILL') failures.push(`run ${i} (${signal} at ${killAt} ms): temporaries left: ${temps.join(', ')}`);
  if (temps.length && signal === 'SIGKILL') {
    counts.leftAfterKill++;
    // The next write into the folder clears them (their writer is gone).
    const next = await run(['fuse', MODEL, '-o', `next-${i}.onnx`], null);
    if (next.code !== 0) failures.push(`run ${i}: the next write failed: ${next.stderr.trim()}`);
    const still = fs.readdirSync(dir).filter((f) => TEMP.test(f));
    if (still.length) failures.push(`run ${i}: the next write did not clear ${still.join(', ')}`);
    else counts.cleared++;
  }
}
fs.rmSync(dir, { recursive: true, force: true });
console.log(`soak: ${runs} fuse --verify runs (one takes ${runMs} ms here); finished ${counts.finished}, stopped by SIGINT ${counts.SIGINT}, SIGTERM ${counts.SIGTERM}, SIGKILL ${counts.SIGKILL}; ` +
  `temporaries after SIGKILL ${counts.leftAfterKill}, cleared by the next write ${counts.cleared}`);
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('soak: no process left, no temporary left except after SIGKILL, and those cleared');
