// The enforcement point process: `node dist/authz-server/main.js --config file.yaml`.
// Start-up validates everything (configuration, keys, certificate, Redis) and exits non-zero
// with a precise message on the first problem: it never starts permissive.
import { pino } from 'pino';
import { nodeCrypto } from '../core/crypto-node.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import { RedisRegistryStore } from '../store/registry-redis.js';
import { RedisUseStateStore } from '../store/use-state-redis.js';
import { GovernanceError } from '../core/errors.js';
import { loadConfig } from './config.js';
import { loadProducer, loadRootKeys } from './keys.js';
import { createAuthzServer } from './server.js';

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
  const logger = pino({
    level: config.logLevel,
    base: { service: 'authz-server', producer: config.producer.id },
  });
  const roots = loadRootKeys(config.trust.rootKeys);
  const producer = loadProducer(nodeCrypto, config.producer, roots);
  if (config.redis.mode !== 'standalone') {
    // store/ledger-redis.ts connects by URL only; see docs/authz-server.md.
    throw new GovernanceError(
      'config.invalid',
      `redis.mode ${config.redis.mode}: the ledger store supports standalone only`,
    );
  }
  const redis = await connectRedis(config.redis, (e) =>
    logger.warn({ problem: e.message }, 'redis connection error'),
  );
  const registryStore = new RedisRegistryStore(redis);
  await registryStore.putKeyRecord(producer.record);
  const ledgerStore = new RedisLedgerStore({
    url: config.redis.url,
    log: config.ledger.log,
    prefix: config.redis.keyPrefix,
  });
  const ledger = await createLedgerWriter({
    store: ledgerStore,
    kid: producer.kid,
    privateKey: producer.privateKey,
    commitWindowMs: config.freshness.ledgerCommitWindowMs,
  });
  const server = createAuthzServer({
    config,
    registryStore,
    useState: new RedisUseStateStore(redis),
    ledger,
    roots,
    producer,
    logger,
  });
  await server.start();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await server.stop();
    await ledger.close();
    await ledgerStore.close();
    await closeRedis(redis);
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
