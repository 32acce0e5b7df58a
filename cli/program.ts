// govctl: the operator's and auditor's terminal for the governance layer (entry: cli/govctl.ts).
import { Command, CommanderError } from 'commander';
import { isGovernanceError } from '../core/errors.js';
import { GovernanceClientError } from '../client/errors.js';
import { registerArtifactCommands } from './commands/artifact.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerCheckCommand } from './commands/check.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerLedgerCommands } from './commands/ledger.js';
import { registerPolicyCommands } from './commands/policy.js';
import { registerProofCommands } from './commands/proof.js';
import { registerRevokeCommand } from './commands/revoke.js';
import { registerWitnessCommands } from './commands/witness.js';
import { PACKAGE_VERSION } from '../service/package.js';
import { CliError, EXIT, type OutputOptions } from './output.js';

export function buildProgram(): Command {
  const program = new Command('govctl')
    .description('operate and audit the execution governance layer')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version of govctl (its package)')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError()
    .exitOverride();
  const output = (): OutputOptions => program.opts<OutputOptions>();
  registerKeyCommands(program, output);
  registerPolicyCommands(program, output);
  registerArtifactCommands(program, output);
  registerCheckCommand(program, output);
  registerRevokeCommand(program, output);
  registerProofCommands(program, output);
  registerLedgerCommands(program, output);
  registerWitnessCommands(program, output);
  registerBenchCommand(program, output);
  // Every subcommand reports its own usage errors the same way (exit 2, help shown).
  const configure = (command: Command) => {
    command.showHelpAfterError().exitOverride();
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CliError) {
      process.stderr.write(`govctl: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof GovernanceClientError) {
      // A server's refusal is a negative answer; no answer at all is unavailability.
      process.stderr.write(`govctl: ${e.message}\n`);
      return e.reason === 'unreachable' ? EXIT.unavailable : EXIT.negative;
    }
    if (isGovernanceError(e)) {
      process.stderr.write(`govctl: ${e.code}: ${e.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`govctl: ${(e as Error).message}\n`);
    return EXIT.unavailable;
  }
}
