// Child process of stopAfterCommit.test.ts: commits OUT the way a CLI command does, then says
// "committed" and waits for the signal the test sends — the moment a stop can arrive before the
// command has ended. With `--force` the commit replaces an existing OUT.
import * as fs from 'node:fs';
import { writeAtomically } from '../../../../extension/engine/io/atomicWrite';
import { installSignalCleanup } from '../../../../extension/cli/signals';

const [out, mode] = process.argv.slice(2);
installSignalCleanup();
void writeAtomically((files) => fs.writeFileSync(files.add(out), 'complete output'), { force: mode === '--force' }).then(() => {
  process.stdout.write('committed\n');
  setInterval(() => undefined, 1000);
});
