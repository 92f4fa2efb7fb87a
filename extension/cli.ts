/**
 * The headless front end: `node dist/cli.js <command> …`. Thin: it parses
 * arguments and calls the engine (and the onnxruntime worker); every user
 * error ends as one line on stderr and a non-zero exit, with the stack only
 * under --debug.
 */
import { CancelledError, ModelFuseError } from './engine/errors';
import type { CliCommand, CliIO } from './cli/command';
import { COMMANDS } from './cli/commands';

const io: CliIO = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

function usage(): string {
  const lines = ['usage: modelfuse <command> [options]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.usage}`, `      ${c.summary}`);
  lines.push('', 'common options: --json (machine-readable output), --debug (show stack traces)');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const command: CliCommand | undefined = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`modelfuse: unknown command '${name}' (try --help)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: modelfuse ${command.usage}\n  ${command.summary}`);
    return 0;
  }
  const debug = rest.includes('--debug');
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof ModelFuseError) {
      io.err(`modelfuse ${name}: ${err.message}`);
      if (debug) io.err(String(err.stack));
      return err.exitCode;
    }
    if (err instanceof CancelledError) {
      io.err(`modelfuse ${name}: cancelled`);
      return 130;
    }
    // Not a user error: a bug. Still one line unless --debug, but say it is ours.
    const msg = err instanceof Error ? err.message : String(err);
    io.err(`modelfuse ${name}: internal error: ${msg.split('\n')[0]}${debug ? '' : ' (run with --debug for details)'}`);
    if (debug && err instanceof Error) io.err(String(err.stack));
    return 3;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`modelfuse: ${err}\n`);
      process.exitCode = 3;
    },
  );
}
