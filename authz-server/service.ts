// The enforcement point's wiring from a loaded configuration, shared by main.ts (Redis) and the
// dev mode (cli/dev-mode.ts, in memory or on Redis): the same keys, certificate, ledger writer
// and server; only the stores differ between callers.
import { pino, type Logger } from 'pino';
import { nodeCrypto } from '../core/crypto-node.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { followCheckpointTrust, witnessPolicy } from '../service/checkpoint-trust.js';
import type { LedgerStore } from '../store/ledger-types.js';
import { logRedisErrors, openServiceRedisStores } from '../service/stores.js';
import { openRedisUseState } from '../store/redis-stores.js';
import type { RegistryStore, UseStateStore } from '../store/types.js';
import type { LoadedConfig } from './config.js';
import type { PinnedRoots } from '../core/registry.js';
import { loadHeldKey, loadPinnedRoots, type HeldKey } from '../service/keys.js';
import { createAuthzServer, type AuthzServer } from './server.js';

export interface AuthzKeys {
  roots: PinnedRoots;
  /** This enforcement point's producer key, certified by a pinned root for producer.id. */
  producer: HeldKey & { id: string };
}

export interface AuthzStores {
  registry: RegistryStore;
  useState: UseStateStore;
  ledger: LedgerStore;
}

export interface RunningAuthz {
  server: AuthzServer;
  grpcPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export function authzLogger(config: LoadedConfig): Logger {
  return pino({ level: config.logLevel, base: { service: 'authz-server', producer: config.producer.id } });
}

/** The pinned roots and this enforcement point's root-certified producer key; throws config.invalid. */
export function loadAuthzKeys(config: LoadedConfig): AuthzKeys {
  const roots = loadPinnedRoots(config.trust.rootKeys);
  const { id } = config.producer;
  const held = loadHeldKey(nodeCrypto, config.producer, {
    role: 'producer',
    subject: id,
    roots,
    now: Date.now() / 1000,
  });
  return { roots, producer: { ...held, id } };
}

/**
 * The production stores on the configured Redis: the registry and the ledger as every service
 * opens them (service/stores.ts), and the use state on a connection of its own.
 */
export async function openAuthzRedisStores(
  config: LoadedConfig,
  logger: Logger,
): Promise<AuthzStores & { close(): Promise<void> }> {
  const stores = await openServiceRedisStores(config, logger);
  try {
    // Auto-pipelining: the use-state scripts of the Checks arriving in one turn go out in one
    // write (one syscall instead of one per Check; see docs/performance.md). Each keeps its own
    // reply and error, so every failure still reaches its own decision as a DENY.
    const use = await openRedisUseState({
      redis: config.redis,
      onError: logRedisErrors(logger),
      autoPipelining: true,
    });
    return {
      registry: stores.registry,
      ledger: stores.ledger,
      useState: use.useState,
      async close() {
        await use.close();
        await stores.close();
      },
    };
  } catch (e) {
    await stores.close();
    throw e;
  }
}

/** Publishes the producer certificate, opens the ledger writer and serves; stop() undoes it (not the stores). */
export async function startAuthzService(
  config: LoadedConfig,
  keys: AuthzKeys,
  stores: AuthzStores,
  logger: Logger,
): Promise<RunningAuthz> {
  await stores.registry.putKeyRecord(keys.producer.record);
  const trust = await followCheckpointTrust({
    suite: nodeCrypto,
    registry: stores.registry,
    roots: keys.roots,
    log: config.ledger.log,
    witnesses: witnessPolicy(nodeCrypto, config.ledger.witnesses),
    onError: (e) => logger.warn({ err: e }, 'audit key record refused'),
  });
  const ledger = await createLedgerWriter({
    store: stores.ledger,
    kid: keys.producer.key.kid,
    privateKey: keys.producer.privateKey,
    commitWindowMs: config.freshness.ledgerCommitWindowMs,
    checkpoints: trust,
    log: (level, message) => logger[level]({ ledger: config.ledger.log }, message),
  });
  const server = createAuthzServer({
    config,
    registryStore: stores.registry,
    useState: stores.useState,
    ledger,
    roots: keys.roots,
    producer: { id: keys.producer.id, kid: keys.producer.key.kid, privateKey: keys.producer.privateKey },
    logger,
  });
  let ports: { grpcPort: number; httpPort: number };
  try {
    ports = await server.start();
  } catch (e) {
    await server.stop();
    await ledger.close();
    trust.stop();
    throw e;
  }
  return {
    server,
    ...ports,
    async stop() {
      await server.stop();
      await ledger.close();
      trust.stop();
    },
  };
}
