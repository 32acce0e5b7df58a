// govctl bench: the Check benchmark (`npm run bench`, bench/lib/check-command.ts) against any
// ext_authz address: same options, same generator, same report. By default it measures the
// target alone: no baselines (--baselines noop,crypto-floor adds them) and no full path.
import type { Command } from 'commander';
import {
  addCheckOptions,
  runCheckCommand,
  TargetUnavailableError,
  type CheckCommandDefaults,
  type CheckCommandOptions,
} from '../../bench/lib/check-command.js';
import { defaults } from '../options.js';
import { CliError, EXIT, type OutputOptions } from '../output.js';

export function registerBenchCommand(program: Command, output: () => OutputOptions): void {
  const benchDefaults: CheckCommandDefaults = {
    target: defaults.authz(),
    targetDefaultHelp: '$GOVCTL_AUTHZ, else 127.0.0.1:9191',
    fullPath: false,
    baselines: [],
    out: undefined,
    progressLinesWhenPiped: false,
  };
  const command = program
    .command('bench')
    .description(
      'load-test an ext_authz server with Envoy-shaped Checks (closed and open loop, h2load) and ' +
        'report throughput, latency and decisions (markdown, or the JSON report with --json); ' +
        'exit 1 when a request that must be denied was allowed',
    );
  addCheckOptions(command, benchDefaults).action(async (opts: CheckCommandOptions) => {
    let code: number;
    try {
      code = await runCheckCommand(opts, benchDefaults, output());
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(
        (e as Error).message,
        e instanceof TargetUnavailableError ? EXIT.unavailable : EXIT.usage,
      );
    }
    if (code !== 0) process.exitCode = EXIT.negative;
  });
}
