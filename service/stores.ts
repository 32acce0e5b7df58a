// A service's stores on its configured Redis (standalone, Sentinel or Cluster): the registry on
// the shared connection and the ledger on its own (store/redis-stores.ts), connection errors
// logged as warnings. Every service configures them with the same `redis` and `ledger` sections.
import type { Logger } from 'pino';
import type { RedisConfig } from '../store/redis-connection.js';
import { openRedisStores, type RedisStores } from '../store/redis-stores.js';

export interface StoreSettings {
  redis: RedisConfig;
  ledger: { log: string; replicas: number; replicaTimeoutMs: number };
}

/** Where a service's Redis connection errors go (the failing operations reject on their own). */
export const logRedisErrors =
  (logger: Logger) =>
  (e: Error): void =>
    logger.warn({ problem: e.message }, 'redis connection error');

export function openServiceRedisStores(config: StoreSettings, logger: Logger): Promise<RedisStores> {
  return openRedisStores({
    redis: config.redis,
    ledgerLog: config.ledger.log,
    ledgerReplicas: config.ledger.replicas,
    ledgerReplicaTimeoutMs: config.ledger.replicaTimeoutMs,
    onError: logRedisErrors(logger),
  });
}
