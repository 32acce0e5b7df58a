// Production entry point of the sequencer: `node dist/ledger/sequencer-main.js`.
// Configuration: REDIS_URL (redis://… of the ledger's Redis) and the variables read by
// sequencer-config.ts (log id, audit key, pinned roots, producer key records).
import { pino } from 'pino';
import { GovernanceError } from '../core/errors.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import { RedisRegistryStore } from '../store/registry-redis.js';
import { loadSequencerConfig } from './sequencer-config.js';
import { Sequencer } from './sequencer.js';

const logger = pino({ name: 'ledger-sequencer' });
const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new GovernanceError('config.invalid', 'REDIS_URL must be set');
const config = await loadSequencerConfig(process.env);
// Third parties find the key that signs heads among the registry's certified records.
const registryClient = await connectRedis({ mode: 'standalone', url: redisUrl, keyPrefix: config.prefix });
await new RedisRegistryStore(registryClient).putKeyRecord(config.auditRecord);
await closeRedis(registryClient);
const store = new RedisLedgerStore({
  url: redisUrl,
  log: config.log,
  prefix: config.prefix,
  replicas: config.replicas,
});
const sequencer = new Sequencer({
  store,
  ...config.options,
  log: (level, message) => logger[level](message),
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info(`${signal}: stopping`);
    void sequencer
      .stop()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
}
sequencer.start();
logger.info(`sequencer for log ${store.log} started`);
