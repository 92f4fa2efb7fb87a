/** The shape of one CLI command; cli.ts dispatches to these by name. */
export interface CliCommand {
  name: string;
  /** One-line usage, shown by `--help` and in usage errors. */
  usage: string;
  summary: string;
  /** Returns the process exit code (0 ok, 1 verification failed, 2 bad input). */
  run(argv: string[], io: CliIO): Promise<number>;
}

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}
