// The authority process: `node dist/authority/main.js --config authority.yaml`.
// Start-up validates everything (configuration, keys and their root certificates, policies,
// Redis) and exits non-zero with a precise message on the first problem: it never starts
// permissive, and it refuses to start if its issuer key record does not verify against a
// pinned root. Nothing key-related is ever logged.
import { runService, serviceUsage } from '../service/process.js';
import { redisInUse } from '../service/config.js';
import { openServiceRedisStores } from '../service/stores.js';
import { loadConfig } from './config.js';
import { authorityLogger, loadAuthorityMaterial, startAuthorityService } from './service.js';

const usage = serviceUsage(
  'authority/main.js',
  'The authority: issues signed single-use authorization artifacts under its policies, runs\n' +
    'governed administration and serves the public proof endpoints (docs/authority.md).',
  'GOV_AUTHORITY',
);

runService('authority', usage, async (path) => {
  const config = loadConfig(path);
  const material = loadAuthorityMaterial(config);
  const logger = authorityLogger(config, material);
  logger.info({ redis: redisInUse(config.redis, process.env) }, 'using redis');
  const stores = await openServiceRedisStores(config, logger);
  const service = await startAuthorityService(config, material, stores, logger);

  return {
    logger,
    stop: async () => {
      await service.stop();
      await stores.close();
    },
  };
});
