// Production entry point of the sequencer: `node dist/ledger/sequencer-main.js`.
// Configuration: the ledger's Redis — REDIS_URL (standalone), or REDIS_MODE sentinel with
// REDIS_SENTINELS and REDIS_SENTINEL_NAME, or REDIS_MODE cluster with REDIS_CLUSTER_NODES
// (store/service-process.ts, redisConfigFromEnvironment) — and the variables read by
// sequencer-config.ts (log id, audit key, pinned roots, producer key records).
import { pino } from 'pino';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import { RedisRegistryStore } from '../store/registry-redis.js';
import { exitOnSignals, redisConfigFromEnvironment, redisInUse } from '../store/service-process.js';
import { loadSequencerConfig } from './sequencer-config.js';
import { Sequencer } from './sequencer.js';

const logger = pino({ name: 'ledger-sequencer' });
// Checked first: without it nothing else matters.
redisConfigFromEnvironment(process.env);
const config = await loadSequencerConfig(process.env);
const redis = redisConfigFromEnvironment(process.env, config.prefix);
logger.info({ redis: redisInUse(redis, process.env) }, 'using redis');
const onError = (e: Error) => logger.warn({ problem: e.message }, 'redis connection error');
// Third parties find the key that signs heads among the registry's certified records.
const registryClient = await connectRedis(redis, onError);
await new RedisRegistryStore(registryClient).putKeyRecord(config.auditRecord);
await closeRedis(registryClient);
const store = new RedisLedgerStore({ redis, log: config.log, replicas: config.replicas, onError });
const sequencer = new Sequencer({
  store,
  ...config.options,
  log: (level, message) => logger[level](message),
});

exitOnSignals(
  async () => {
    await sequencer.stop();
    await store.close();
  },
  (level, message) => logger[level](message),
);
sequencer.start();
logger.info(`sequencer for log ${store.log} started, ${config.options.openWorkers ?? 0} open worker(s)`);
