// The authority process: `node dist/authority/main.js --config authority.yaml`.
// Start-up validates everything (configuration, keys and their root certificates, policies,
// Redis) and exits non-zero with a precise message on the first problem: it never starts
// permissive, and it refuses to start if its issuer key record does not verify against a
// pinned root. Nothing key-related is ever logged.
import { GovernanceError } from '../core/errors.js';
import { loadConfig } from './config.js';
import {
  authorityLogger,
  loadAuthorityMaterial,
  openAuthorityRedisStores,
  startAuthorityService,
} from './service.js';

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <authority.yaml>');
  }
  return path;
}

async function main(): Promise<void> {
  const config = loadConfig(configPath(process.argv.slice(2)));
  const material = loadAuthorityMaterial(config);
  const logger = authorityLogger(config, material);
  const stores = await openAuthorityRedisStores(config, logger);
  const service = await startAuthorityService(config, material, stores, logger);

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
  process.stderr.write(`authority: cannot start: ${message}\n`);
  process.exit(1);
});
