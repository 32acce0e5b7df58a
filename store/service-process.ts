// The process shell every production entry point shares: `--config <file>` from the command
// line, a precise message and exit 1 when start-up fails (a service never starts permissive),
// and an orderly stop on SIGTERM or SIGINT.
import { GovernanceError } from '../core/errors.js';

export interface RunningService {
  logger: { info(fields: object, message: string): void };
  stop(): Promise<void>;
}

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <file.yaml>');
  }
  return path;
}

export function runService(name: string, start: (configPath: string) => Promise<RunningService>): void {
  const started = async () => {
    const service = await start(configPath(process.argv.slice(2)));
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      service.logger.info({ signal }, 'shutting down');
      await service.stop();
      process.exit(0);
    };
    process.once('SIGTERM', (s) => void shutdown(s));
    process.once('SIGINT', (s) => void shutdown(s));
  };
  started().catch((e: unknown) => {
    const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
    process.stderr.write(`${name}: cannot start: ${message}\n`);
    process.exit(1);
  });
}
