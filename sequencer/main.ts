// The sequencer process: `node dist/sequencer/main.js --config sequencer.yaml`.
// Start-up validates everything (configuration, the audit key and its root certificate, the
// producer records, Redis) and exits non-zero with a precise message on the first problem.
// Nothing key-related is ever logged.
import { redisInUse } from '../service/config.js';
import { openServiceRedisStores } from '../service/stores.js';
import { runService, serviceUsage } from '../service/process.js';
import { loadConfig } from './config.js';
import { loadSequencerMaterial, sequencerLogger, startSequencerService } from './service.js';

const usage = serviceUsage(
  'sequencer/main.js',
  "The ledger sequencer: chains the events the services append into the log's hash chain and\n" +
    'publishes its checkpoints, cosigned by its witnesses (docs/spec/ledger.md). One sequencer\n' +
    'leads a log at a time; others wait for its lease. Its HTTP port serves /healthz and /metrics.',
  'GOV_SEQUENCER',
  ['http'],
);

runService('sequencer', usage, async (path) => {
  const config = loadConfig(path);
  const material = await loadSequencerMaterial(config);
  const logger = sequencerLogger(config);
  logger.info({ redis: redisInUse(config.redis, process.env) }, 'using redis');
  const stores = await openServiceRedisStores(config, logger);
  const service = await startSequencerService(config, material, stores, logger);
  return {
    logger,
    stop: async () => {
      await service.stop();
      await stores.close();
    },
  };
});
