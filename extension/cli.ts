/**
 * The headless front end: `node dist/cli.js <command> …`. Thin: it parses
 * arguments and calls the engine (and the onnxruntime worker); every user
 * error ends as one line on stderr and a non-zero exit, with the stack only
 * under --debug.
 */
import { CancelledError, ModelFuseError } from './engine/errors';
import type { CliCommand, CliIO } from './cli/command';
import { COMMANDS } from './cli/commands';
import { installSignalCleanup } from './cli/signals';
import { cliErrorText } from './cli/remedyText';

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
  installSignalCleanup();
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof ModelFuseError) {
      io.err(`modelfuse ${name}: ${cliErrorText(err)}`);
      if (debug && err.detail) io.err(`detail: ${err.detail}`);
      if (debug) io.err(String(err.stack));
      return err.exitCode;
    }
    if (err instanceof CancelledError) {
      io.err(`modelfuse ${name}: cancelled`);
      return 130;
    }
    const environment = environmentProblem(err);
    if (environment) {
      io.err(`modelfuse ${name}: ${environment}`);
      if (debug && err instanceof Error) io.err(String(err.stack));
      return 2;
    }
    // Not a user error: a bug. Still one line unless --debug, but say it is ours.
    const msg = err instanceof Error ? err.message : String(err);
    io.err(`modelfuse ${name}: internal error: ${msg.split('\n')[0]}${debug ? '' : ' (run with --debug for details)'}`);
    if (debug && err instanceof Error) io.err(String(err.stack));
    return 3;
  }
}

/**
 * The machine, not ModelFuse, refused: a full disk, a read-only folder, a
 * path through a file, missing permission. Exit 2 with the path and the
 * cause, as for bad input; exit 3 stays for our own defects.
 */
const ENVIRONMENT_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  EBUSY: 'resource busy',
  ETXTBSY: 'text file busy',
  EXDEV: 'cross-device link',
  ENOMEM: 'out of memory',
};

function environmentProblem(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException | null;
  const cause = e && typeof e.code === 'string' ? ENVIRONMENT_ERRORS[e.code] : undefined;
  if (!cause) return null;
  const where = e!.path ?? (e as { dest?: string }).dest;
  return `${where ? `${where}: ` : ''}${cause} (${e!.code}${e!.syscall ? ` in ${e!.syscall}` : ''})`;
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
