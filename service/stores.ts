// A service's stores on its configured Redis (standalone, Sentinel or Cluster): the registry on
// the shared connection and the ledger on its own (store/redis-stores.ts), connection errors
// logged as warnings. Every service configures them with the same `redis` and `ledger` sections.
import type { Logger } from 'pino';
import { ArchivedLedgerStore } from '../store/ledger-archived.js';
import type { LedgerArchive } from '../store/archive-types.js';
import { FsLedgerArchive } from '../store/archive-fs.js';
import { S3LedgerArchive } from '../store/archive-s3.js';
import type { LedgerStore } from '../store/ledger-types.js';
import type { RedisConfig } from '../store/redis-connection.js';
import { openRedisStores, type RedisStores } from '../store/redis-stores.js';
import type { LedgerArchiveConfig } from './config.js';

export interface StoreSettings {
  redis: RedisConfig;
  ledger: {
    log: string;
    replicas: number;
    replicaTimeoutMs: number;
    archive?: LedgerArchiveConfig | undefined;
  };
}

/** The configured archive's client (config.invalid for a malformed bucket, prefix or endpoint). */
export function openLedgerArchive(config: LedgerArchiveConfig): LedgerArchive {
  return config.type === 'fs' ? new FsLedgerArchive({ dir: config.dir }) : new S3LedgerArchive(config);
}

/**
 * The ledger as its readers see it: the store itself, or with an archive configured, the store
 * and the archive of what was trimmed from it, as one log (store/ledger-archived.ts).
 */
export function ledgerView(store: LedgerStore, archive: LedgerArchiveConfig | undefined): LedgerStore {
  return archive ? new ArchivedLedgerStore(store, openLedgerArchive(archive)) : store;
}

/** Where a service's Redis connection errors go (the failing operations reject on their own). */
export const logRedisErrors =
  (logger: Logger) =>
  (e: Error): void =>
    logger.warn({ problem: e.message }, 'redis connection error');

export async function openServiceRedisStores(
  config: StoreSettings,
  logger: Logger,
): Promise<Omit<RedisStores, 'ledger'> & { ledger: LedgerStore }> {
  const stores = await openRedisStores({
    redis: config.redis,
    ledgerLog: config.ledger.log,
    ledgerReplicas: config.ledger.replicas,
    ledgerReplicaTimeoutMs: config.ledger.replicaTimeoutMs,
    onError: logRedisErrors(logger),
  });
  const ledger = ledgerView(stores.ledger, config.ledger.archive);
  return {
    ...stores,
    ledger,
    async close() {
      await stores.close();
      if (ledger instanceof ArchivedLedgerStore) await ledger.archive.close();
    },
  };
}
