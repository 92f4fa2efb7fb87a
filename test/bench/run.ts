/**
 * `npm run bench`: benchmarks, not tests. Each prints its timings as ratios
 * against the physical floor (reading and writing the files) and against the
 * alternatives (ONNX Runtime's own optimizer, a plain reference merge).
 * Generated models go to .bench/ (gitignored). Pass names to run a subset:
 * `npm run bench -- scan lora`. `npm run bench -- llama` (7B-class merge) needs
 * tens of GB of disk and runs only when named.
 */
import { runScanBench } from './scanBench';
import { runLoraBench } from './loraBench';
import { runFuseBench } from './fuseBench';
import { runLoraBranchBench } from './loraBranchBench';
import { runVerifyBench } from './verifyBench';
import { runLlamaBench } from './llamaBench';
import { runGraphBench } from './graphBench';
import { runGraphRenderBench } from './graphRenderBench';

/** `onlyByName`: benches that need tens of GB of disk run only when named. */
type Bench = { name: string; run: () => Promise<void>; onlyByName?: boolean };

const BENCHES: Bench[] = [
  // Each bench module registers itself here with one line.
  { name: 'scan', run: runScanBench },
  { name: 'lora', run: runLoraBench },
  { name: 'fuse', run: runFuseBench },
  { name: 'lora-branch', run: runLoraBranchBench },
  { name: 'verify', run: runVerifyBench },
  { name: 'llama', run: runLlamaBench, onlyByName: true },
  { name: 'graph', run: runGraphBench },
  { name: 'graph-render', run: runGraphRenderBench },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const b of BENCHES) {
    if (wanted.length ? !wanted.includes(b.name) : b.onlyByName) continue;
    console.log(`\n=== ${b.name} ===`);
    await b.run();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
