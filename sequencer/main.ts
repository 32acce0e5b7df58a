// Production entry point of the sequencer: `node dist/sequencer/main.js`, configured by its
// environment alone (USAGE below; the variables are read by service/config.ts's
// redisConfigFromEnvironment and by sequencer/config.ts). A configuration problem exits 2 with
// one line naming it, any other start-up failure (Redis not answering) 1.
import { pino } from 'pino';
import { isGovernanceError } from '../core/errors.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import { RedisRegistryStore } from '../store/registry-redis.js';
import { exitOnSignals, startFailure, STOP_BOUND_MS } from '../service/process.js';
import { redisConfigFromEnvironment, redisInUse } from '../service/config.js';
import { loadSequencerConfig } from './config.js';
import { Sequencer } from './sequencer.js';

const USAGE = `usage: node dist/sequencer/main.js   (configured by its environment)

The ledger sequencer: chains the events the services append into the log's hash chain and signs
its heads (docs/spec/ledger.md). One sequencer leads a log at a time; others wait for its lease.

Redis     REDIS_URL (standalone), or REDIS_MODE sentinel with REDIS_SENTINELS and
          REDIS_SENTINEL_NAME, or REDIS_MODE cluster with REDIS_CLUSTER_NODES
Required  LEDGER_LOG, AUDIT_KEY_FILE, AUDIT_KID, AUDIT_CERT_FILE, ROOT_KEYS, PRODUCER_KEYS_FILE
Optional  LEDGER_KEY_PREFIX, LEASE_MS, HEAD_INTERVAL_MS, WAIT_REPLICAS, OPEN_WORKERS
          (sequencer/config.ts says what each holds)

A configuration problem exits 2 naming it, Redis not answering 1; SIGTERM or SIGINT stops it
within ${STOP_BOUND_MS / 1000} s.
`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
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
}

main().catch((e: unknown) => {
  process.stderr.write(`${startFailure('ledger-sequencer', e)}\n`);
  process.exit(isGovernanceError(e, 'config.invalid') ? 2 : 1);
});
