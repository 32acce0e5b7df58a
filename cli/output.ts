// Output and exit codes shared by every govctl command. Scripts rely on the exit codes:
//   0 success / allow / verified
//   1 a negative answer: denied, verification failed, not found
//   2 usage error (bad flags or input files)
//   3 unavailable: a server or Redis could not be reached, or an unexpected error
export const EXIT = { ok: 0, negative: 1, usage: 2, unavailable: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

export interface OutputOptions {
  json?: boolean;
}

/** Prints `data` as JSON with --json, else the human rendering. */
export function emit(options: OutputOptions, data: unknown, human: () => string): void {
  process.stdout.write(options.json ? JSON.stringify(data, null, 2) + '\n' : human() + '\n');
}
