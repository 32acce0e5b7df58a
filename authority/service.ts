// The authority's wiring from a loaded configuration, shared by main.ts (Redis) and the dev mode
// (cli/dev-mode.ts, in memory or on Redis): the same keys, policies, ledger writer and servers;
// only the stores differ between callers.
import { pino, type Logger } from 'pino';
import { readConfiguredFile } from '../service/config.js';
import { nodeCrypto } from '../core/crypto-node.js';
import type { PinnedRoots } from '../core/registry.js';
import { StoreLedgerReader } from '../ledger/reader.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { followCheckpointTrust, witnessPolicy } from '../service/checkpoint-trust.js';
import type { LedgerStore } from '../store/ledger-types.js';
import type { RegistryStore } from '../store/types.js';
import { loadHeldKey, loadPinnedRoots, type HeldKey } from '../service/keys.js';
import { createAuthority, type Authority } from './authority.js';
import type { AuthorityConfig } from './config.js';
import { startGrpcServer } from './grpc.js';
import { startHttpServer } from './http.js';
import { TokenTable } from './identity.js';
import { IssuerKeyring } from './keys.js';
import { AuthorityMetrics } from './metrics.js';

/** Everything read from files before any store is touched, so a bad file fails fast. */
export interface AuthorityMaterial {
  roots: PinnedRoots;
  active: HeldKey;
  standby: HeldKey[];
  producer: HeldKey;
  policies: { name: string; source: string }[];
}

export interface AuthorityStores {
  registry: RegistryStore;
  ledger: LedgerStore;
}

export interface RunningAuthority {
  authority: Authority;
  grpcPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

function tlsFiles(tls: AuthorityConfig['http']['tls']) {
  return (
    tls && {
      key: readConfiguredFile(tls.keyFile, 'TLS key'),
      cert: readConfiguredFile(tls.certFile, 'TLS certificate'),
      ca: readConfiguredFile(tls.clientCaFile, 'client CA'),
    }
  );
}

/** Keys (each certified by a pinned root, valid now) and policy files; throws config.invalid. */
export function loadAuthorityMaterial(config: AuthorityConfig): AuthorityMaterial {
  const roots = loadPinnedRoots(config.trust.rootKeys);
  const now = Date.now() / 1000;
  const issuer = { role: 'issuer' as const, subject: config.issuer.id, roots, now };
  return {
    roots,
    active: loadHeldKey(nodeCrypto, config.issuer, issuer),
    standby: config.issuer.standby.map((files) => loadHeldKey(nodeCrypto, files, issuer)),
    producer: loadHeldKey(nodeCrypto, config.audit, {
      role: 'producer',
      subject: config.producerId,
      roots,
      now,
    }),
    policies: config.policies.map((path) => ({
      name: path,
      source: readConfiguredFile(path, 'policy file').toString('utf8'),
    })),
  };
}

export function authorityLogger(config: AuthorityConfig, material: AuthorityMaterial): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'authority', producer: material.producer.key.subject },
  });
}

/** Starts the authority (key records, bootstrap policies, heartbeat) and its gRPC and HTTP servers. */
export async function startAuthorityService(
  config: AuthorityConfig,
  material: AuthorityMaterial,
  stores: AuthorityStores,
  logger: Logger,
): Promise<RunningAuthority> {
  const { producer, active, standby } = material;
  const trust = await followCheckpointTrust({
    suite: nodeCrypto,
    registry: stores.registry,
    roots: material.roots,
    log: config.ledger.log,
    witnesses: witnessPolicy(nodeCrypto, config.ledger.witnesses),
    onError: (e) => logger.warn({ err: e }, 'audit key record refused'),
  });
  const ledger = await createLedgerWriter({
    store: stores.ledger,
    kid: producer.key.kid,
    privateKey: producer.privateKey,
    commitWindowMs: config.ledger.commitWindowMs,
    checkpoints: trust,
    log: (level, message) => logger[level]({ ledger: config.ledger.log }, message),
  });
  const authority = createAuthority({
    issuerId: config.issuer.id,
    producerId: producer.key.subject,
    registry: stores.registry,
    ledger,
    reader: new StoreLedgerReader(nodeCrypto, stores.ledger),
    keyring: new IssuerKeyring(active, standby),
    roots: material.roots,
    adminPolicy: config.admin.policy,
    logger,
    metrics: new AuthorityMetrics({ ledger, processMetrics: true }),
    heartbeatMs: config.heartbeatMs,
    maxRegistryAgeMs: config.maxRegistryAgeMs,
    bootstrapPolicies: material.policies,
    keyRecords: [producer.record, ...standby.map((k) => k.record)],
    openingReaders: config.proof.openingReaders,
  });
  const servers: { close(): Promise<void> }[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.close()));
    await authority.stop();
    await ledger.close();
    trust.stop();
  };
  try {
    await authority.start();
    const identity = {
      tokens: new TokenTable(config.identity.devTokens),
      trustDomains: config.identity.trustDomains,
    };
    if (identity.tokens.size > 0) logger.warn('development bearer tokens are configured');
    const grpc = await startGrpcServer(authority, {
      ...config.grpc,
      onTlsProblem: (problem) => logger.warn({ problem }, 'TLS files not reloaded'),
      identity,
    });
    servers.push(grpc);
    const http = await startHttpServer(authority, {
      ...config.http,
      tls: tlsFiles(config.http.tls),
      identity,
    });
    servers.push(http);
    logger.info({ grpc: grpc.port, http: http.port, kid: active.key.kid }, 'authority serving');
    return { authority, grpcPort: grpc.port, httpPort: http.port, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
