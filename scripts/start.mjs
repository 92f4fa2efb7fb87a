// `npm start`: the main job on the sample that ships in media/sample/.
import { spawnSync } from 'node:child_process';
const run = (args) => {
  console.log(`\n$ node dist/cli.js ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(['--help']);
