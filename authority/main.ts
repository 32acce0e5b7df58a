// The authority process: `node dist/authority/main.js --config authority.yaml`.
// Start-up validates everything (configuration, keys and their root certificates, policies,
// Redis) and exits non-zero with a precise message on the first problem: it never starts
// permissive, and it refuses to start if its issuer key record does not verify against a
// pinned root. Nothing key-related is ever logged.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { GovernanceError } from '../core/errors.js';
import { StoreLedgerReader } from '../ledger/reader.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import { RedisRegistryStore } from '../store/registry-redis.js';
import { createAuthority } from './authority.js';
import { loadConfig, type AuthorityConfig } from './config.js';
import { startGrpcServer } from './grpc.js';
import { startHttpServer } from './http.js';
import { TokenTable } from './identity.js';
import {
  holdKey,
  IssuerKeyring,
  readKeyRecord,
  readPrivateKey,
  readRoots,
  type KeyExpectation,
} from './keys.js';
import { AuthorityMetrics } from './metrics.js';

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <authority.yaml>');
  }
  return path;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new GovernanceError(
      'config.invalid',
      `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

function tlsFiles(tls: AuthorityConfig['grpc']['tls']) {
  return (
    tls && {
      key: readFile(tls.keyFile, 'TLS key'),
      cert: readFile(tls.certFile, 'TLS certificate'),
      ca: readFile(tls.clientCaFile, 'client CA'),
    }
  );
}

/** A key file with its certificate; problems name both files. */
function loadKey(
  files: { keyFile: string; certificateFile: string },
  expect: Omit<KeyExpectation, 'subject'> & { subject?: string },
) {
  try {
    const record = readKeyRecord(files.certificateFile);
    const privateKey = readPrivateKey(files.keyFile);
    return {
      privateKey,
      held: holdKey(privateKey, record, { ...expect, subject: expect.subject ?? record.subject }),
    };
  } catch (e) {
    throw new GovernanceError(
      'config.invalid',
      `${files.keyFile} / ${files.certificateFile}: ${(e as Error).message}`,
    );
  }
}

async function main(): Promise<void> {
  const config = loadConfig(configPath(process.argv.slice(2)));
  const roots = readRoots(config.trust.rootKeys);
  const now = Date.now() / 1000;
  const issuer = { role: 'issuer' as const, subject: config.issuer.id, roots, now };
  const active = loadKey(config.issuer, issuer).held;
  const standby = config.issuer.standby.map((files) => loadKey(files, issuer).held);
  const producer = loadKey(config.audit, { role: 'producer', subject: config.producerId, roots, now });
  const producerId = producer.held.key.subject;
  const logger = pino({ level: config.logLevel, base: { service: 'authority', producer: producerId } });
  const policies = config.policies.map((path) => ({
    name: path,
    source: readFile(path, 'policy file').toString('utf8'),
  }));
  if (config.redis.mode !== 'standalone') {
    // store/ledger-redis.ts connects by URL only.
    throw new GovernanceError(
      'config.invalid',
      `redis.mode ${config.redis.mode}: the ledger store supports standalone only`,
    );
  }

  const redis = await connectRedis(config.redis, (e) =>
    logger.warn({ problem: e.message }, 'redis connection error'),
  );
  const registry = new RedisRegistryStore(redis);
  const ledgerStore = new RedisLedgerStore({
    url: config.redis.url,
    log: config.ledger.log,
    prefix: config.redis.keyPrefix,
  });
  const ledger = await createLedgerWriter({
    store: ledgerStore,
    kid: producer.held.key.kid,
    privateKey: producer.privateKey,
    commitWindowMs: config.ledger.commitWindowMs,
  });
  const authority = createAuthority({
    issuerId: config.issuer.id,
    producerId,
    registry,
    ledger,
    reader: new StoreLedgerReader(ledgerStore),
    keyring: new IssuerKeyring(active, standby),
    roots,
    adminPolicy: config.admin.policy,
    logger,
    metrics: new AuthorityMetrics({ processMetrics: true }),
    heartbeatMs: config.heartbeatMs,
    maxRegistryAgeMs: config.maxRegistryAgeMs,
    bootstrapPolicies: policies,
    keyRecords: [producer.held.record, ...standby.map((k) => k.record)],
  });
  await authority.start();
  const identity = {
    tokens: new TokenTable(config.identity.devTokens),
    trustDomains: config.identity.trustDomains,
  };
  if (identity.tokens.size > 0) logger.warn('development bearer tokens are configured');
  const grpc = await startGrpcServer(authority, { ...config.grpc, tls: tlsFiles(config.grpc.tls), identity });
  const http = await startHttpServer(authority, { ...config.http, tls: tlsFiles(config.http.tls), identity });
  logger.info({ grpc: grpc.port, http: http.port, kid: active.key.kid }, 'authority serving');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await Promise.all([grpc.close(), http.close()]);
    await authority.stop();
    await ledger.close();
    await registry.close();
    await ledgerStore.close();
    await closeRedis(redis);
    process.exit(0);
  };
  process.once('SIGTERM', (s) => void shutdown(s));
  process.once('SIGINT', (s) => void shutdown(s));
}

main().catch((e: unknown) => {
  const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
  process.stderr.write(`authority: cannot start: ${message}\n`);
  process.exit(1);
});
