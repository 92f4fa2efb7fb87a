/**
 * `npm run bench`: benchmarks, not tests. Each prints its timings as ratios
 * against the physical floor (reading and writing the files) and against the
 * alternatives (ONNX Runtime's own optimizer, a plain reference merge).
 * Generated models go to .bench/ (gitignored). Pass names to run a subset:
 * `npm run bench -- scan lora`.
 */
import { runScanBench } from './scanBench';
import { runLoraBench } from './loraBench';
import { runFuseBench } from './fuseBench';
import { runLoraBranchBench } from './loraBranchBench';

type Bench = { name: string; run: () => Promise<void> };

const BENCHES: Bench[] = [
  // Each bench module registers itself here with one line.
  { name: 'scan', run: runScanBench },
  { name: 'lora', run: runLoraBench },
  { name: 'fuse', run: runFuseBench },
  { name: 'lora-branch', run: runLoraBranchBench },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const b of BENCHES) {
    if (wanted.length && !wanted.includes(b.name)) continue;
    console.log(`\n=== ${b.name} ===`);
    await b.run();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
