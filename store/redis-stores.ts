// The production stores of a service on one Redis config (standalone, Sentinel or Cluster), as
// the authority and the enforcement point open them: the registry on one connection; the ledger
// store on its own (it never times a command out, and its blocking reads and commit
// subscriptions open further ones); the enforcement point's use state on a third.
import { RedisLedgerStore } from './ledger-redis.js';
import { closeRedis, connectRedis, type RedisConfig, type RedisErrorListener } from './redis-connection.js';
import { RedisRegistryStore } from './registry-redis.js';
import { RedisUseStateStore } from './use-state-redis.js';

export interface RedisStoresOptions {
  redis: RedisConfig;
  /** The ledger log the service's writer appends to. */
  ledgerLog: string;
  /** Replicas that must acknowledge each ingest append (WAIT), and the wait; 0 by default. */
  ledgerReplicas?: number;
  ledgerReplicaTimeoutMs?: number;
  /** Connection errors after the first connect (the failing operations reject on their own). */
  onError?: RedisErrorListener;
  /** Auto-pipelining on the shared connection (see ConnectOptions in redis-connection.ts). */
  autoPipelining?: boolean;
}

export interface RedisStores {
  registry: RedisRegistryStore;
  ledger: RedisLedgerStore;
  /** Closes every connection the stores opened. */
  close(): Promise<void>;
}

/**
 * Connects the shared connection (rejects with state.unavailable when Redis does not answer, or
 * config.invalid) and builds the stores on it; the ledger store connects on first use, which the
 * service's ledger writer makes at start-up.
 */
export async function openRedisStores(options: RedisStoresOptions): Promise<RedisStores> {
  const onError = options.onError ?? (() => undefined);
  const shared = await connectRedis(options.redis, onError, {
    autoPipelining: options.autoPipelining === true,
  });
  const registry = new RedisRegistryStore(shared);
  const ledger = new RedisLedgerStore({
    redis: options.redis,
    log: options.ledgerLog,
    onError,
    replicas: options.ledgerReplicas,
    replicaTimeoutMs: options.ledgerReplicaTimeoutMs,
  });
  return {
    registry,
    ledger,
    async close() {
      await registry.close();
      await ledger.close();
      await closeRedis(shared);
    },
  };
}

/**
 * The use-state store on a connection of its own without a command timeout: its caller's decision
 * deadline bounds each wait instead, and a reply that comes after it (a paused server resumed) is
 * still read, so the enforcement point learns of a use taken after its request was denied and
 * gives it back (authz-server/enforcer.ts). A command timeout would drop that reply unread.
 */
export async function openRedisUseState(
  options: Pick<RedisStoresOptions, 'redis' | 'onError' | 'autoPipelining'>,
): Promise<{ useState: RedisUseStateStore; close(): Promise<void> }> {
  const client = await connectRedis(options.redis, options.onError ?? (() => undefined), {
    unbounded: true,
    autoPipelining: options.autoPipelining === true,
  });
  return { useState: new RedisUseStateStore(client), close: () => closeRedis(client) };
}
