// govctl: the operator's and auditor's terminal for the governance layer (entry: cli/govctl.ts).
import { Command, CommanderError } from 'commander';
import { isGovernanceError } from '../core/errors.js';
import { registerArtifactCommands } from './commands/artifact.js';
import { registerCheckCommand } from './commands/check.js';
import { registerKeyCommands } from './commands/keys.js';
import { CliError, EXIT, type OutputOptions } from './output.js';

export function buildProgram(): Command {
  const program = new Command('govctl')
    .description('operate and audit the execution governance layer')
    .option('--json', 'machine-readable JSON output')
    .showHelpAfterError()
    .exitOverride();
  const output = (): OutputOptions => program.opts<OutputOptions>();
  registerKeyCommands(program, output);
  registerArtifactCommands(program, output);
  registerCheckCommand(program, output);
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
    if (isGovernanceError(e)) {
      process.stderr.write(`govctl: ${e.code}: ${e.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`govctl: ${(e as Error).message}\n`);
    return EXIT.unavailable;
  }
}
