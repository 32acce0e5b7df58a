// `npm run bench`: Authorization/Check under load. Spawns the two baselines (no-op and crypto
// floor) and the full path, and drives them, and any --target, with the same generator, then with
// h2load. Writes .bench-out/check-<time>.json and prints a markdown summary. Exit status: 1 when a
// request that must be denied was allowed, 2 on a usage or setup error. See docs/performance.md.
// The options and the run are bench/lib/check-command.ts, which `govctl bench` runs too. With
// --overload <seconds>, the overload scenario (bench/lib/overload.ts) runs instead of the others.
import { Command, CommanderError } from 'commander';
import {
  addCheckOptions,
  BENCH_DEFAULTS,
  OVERLOAD_CONCURRENCY,
  runCheckCommand,
  type CheckCommandOptions,
} from './lib/check-command.js';

async function main(): Promise<number> {
  const program = addCheckOptions(
    new Command('bench').description(
      'load-test envoy.service.auth.v3.Authorization/Check against the baselines and an ext_authz target',
    ),
    BENCH_DEFAULTS,
  )
    .option('--json', 'print the JSON report on standard output instead of the markdown summary')
    .exitOverride();
  let opts: CheckCommandOptions & { json?: boolean };
  try {
    opts = program.parse().opts();
  } catch (error) {
    if (error instanceof CommanderError) return error.code === 'commander.helpDisplayed' ? 0 : 2;
    throw error;
  }
  // The overload scenario's capacity phase runs at one concurrency: 64 unless one is given.
  if (opts.overload !== undefined && program.getOptionValueSource('concurrency') === 'default')
    opts.concurrency = [OVERLOAD_CONCURRENCY];
  return runCheckCommand(opts, BENCH_DEFAULTS, { json: opts.json });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
