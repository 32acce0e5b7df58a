// The enforcement point process: `node dist/authz-server/main.js --config file.yaml`.
// Start-up validates everything (configuration, keys, certificate, Redis) and exits non-zero
// with a precise message on the first problem: it never starts permissive.
import { GovernanceError } from '../core/errors.js';
import { loadConfig } from './config.js';
import { authzLogger, loadAuthzKeys, openRedisStores, startAuthzService } from './service.js';

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <file.yaml>');
  }
  return path;
}

async function main(): Promise<void> {
  const config = loadConfig(configPath(process.argv.slice(2)));
  const logger = authzLogger(config);
  const keys = loadAuthzKeys(config);
  const stores = await openRedisStores(config, logger);
  const service = await startAuthzService(config, keys, stores, logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await service.stop();
    await stores.close();
    process.exit(0);
  };
  process.once('SIGTERM', (s) => void shutdown(s));
  process.once('SIGINT', (s) => void shutdown(s));
}

main().catch((e: unknown) => {
  const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
  process.stderr.write(`authz-server: cannot start: ${message}\n`);
  process.exit(1);
});
