// The enforcement point process: `node dist/authz-server/main.js --config file.yaml`.
// Start-up validates everything (configuration, keys, certificate, Redis) and exits non-zero
// with a precise message on the first problem: it never starts permissive.
import { runService, serviceUsage } from '../service/process.js';
import { redisInUse } from '../service/config.js';
import { loadConfig } from './config.js';
import { authzLogger, loadAuthzKeys, openAuthzRedisStores, startAuthzService } from './service.js';
import { isForeignWorker, isWorkerProcess, joinSupervisor, superviseWorkers } from './workers.js';
import { GovernanceError } from '../core/errors.js';

const usage = serviceUsage(
  'authz-server/main.js',
  "The enforcement point: Envoy's ext_authz gRPC server, allowing a request only with a valid,\n" +
    'unspent authorization artifact, and its runtime API (docs/authz-server.md).',
  'GOV_AUTHZ',
);

runService('authz-server', usage, async (path) => {
  const config = loadConfig(path);
  const logger = authzLogger(config);
  if (config.workers > 1 && isForeignWorker()) {
    throw new GovernanceError(
      'config.invalid',
      'workers > 1 under another cluster manager: let it run the processes, with workers: 1',
    );
  }
  if (config.workers > 1 && !isWorkerProcess()) {
    const group = await superviseWorkers(config.workers, logger);
    return { logger, stop: group.stop };
  }
  const keys = loadAuthzKeys(config);
  logger.info({ redis: redisInUse(config.redis, process.env) }, 'using redis');
  const stores = await openAuthzRedisStores(config, logger);
  const service = await startAuthzService(config, keys, stores, logger);
  if (isWorkerProcess()) {
    const { metrics } = service.server;
    const { grpcPort, httpPort } = service;
    metrics.mergeThrough(joinSupervisor({ grpcPort, httpPort }, () => metrics.registry.getMetricsAsJSON()));
  }
  return {
    logger,
    stop: async () => {
      await service.stop();
      await stores.close();
    },
  };
});
