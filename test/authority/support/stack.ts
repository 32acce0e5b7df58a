// The authority as it runs in production, for integration tests and the benchmark: real Redis
// (registry and ledger), the real ledger writer, reader and sequencer, and the gRPC and HTTP
// servers on 127.0.0.1 with ephemeral ports, optionally with TLS from a test PKI.
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  credentials as grpcCredentials,
  loadPackageDefinition,
  Metadata,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { generatePrivateKey, rawPublicKey } from '../../../core/keys.js';
import { nodeCrypto } from '../../../core/crypto-node.js';
import { StoreLedgerReader } from '../../../ledger/reader.js';
import { Sequencer } from '../../../sequencer/sequencer.js';
import { createLedgerWriter, type LedgerWriterOptions } from '../../../ledger/writer.js';
import type { LedgerWriter } from '../../../ledger/types.js';
import { RedisLedgerStore } from '../../../store/ledger-redis.js';
import { closeRedis, connectRedis, type RedisClient } from '../../../store/redis-connection.js';
import { RedisRegistryStore } from '../../../store/registry-redis.js';
import { createAuthority, type Authority } from '../../../authority/authority.js';
import { loadAuthorityProto, startGrpcServer, type RunningServer } from '../../../authority/grpc.js';
import { startHttpServer } from '../../../authority/http.js';
import { TokenTable } from '../../../authority/identity.js';
import { IssuerKeyring } from '../../../authority/keys.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { ADMIN_POLICY, certify, example, GATEWAY, ISSUER, issuerKey, roots } from './fixtures.js';
import type { TestPki } from '../../support/pki.js';

export const LOG = 'governance';
export const PRODUCER = 'authority://test';
export const GATEWAY_TOKEN = 'dev-token-gateway';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface Stack {
  redis: TestRedis;
  client: RedisClient;
  registry: RedisRegistryStore;
  ledgerStore: RedisLedgerStore;
  ledger: LedgerWriter;
  reader: StoreLedgerReader;
  authority: Authority;
  grpc: RunningServer;
  http: RunningServer;
  httpUrl: string;
  /** A client of one of the governance.v1 services. */
  grpcClient(service: 'Authority' | 'Admin' | 'Proof', credentials?: ChannelCredentials): Client;
  stop(): Promise<void>;
}

export interface StackOptions {
  pki?: TestPki;
  policies?: string[];
  devTokens?: { identity: string; sha256: string }[];
  /** A Redis to use instead of starting one (the caller stops it). */
  redis?: TestRedis;
  headIntervalMs?: number;
  /** Members the authority's ledger writer commits in every event (docs/spec/ledger.md §3.1). */
  redact?: LedgerWriterOptions['redact'];
  /** Identities that may read the openings of those commitments (/v1/proof/openings/<seq>). */
  openingReaders?: string[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const redis = options.redis ?? (await startRedis());
  const client = await connectRedis({ mode: 'standalone', url: redis.url, keyPrefix: redis.prefix });
  const registry = new RedisRegistryStore(client);
  const ledgerStore = new RedisLedgerStore({ url: redis.url, log: LOG, prefix: redis.prefix });
  const producerKey = generatePrivateKey();
  const producerRecord = certify(producerKey, 'producer:authority/test', {
    role: 'producer',
    subject: PRODUCER,
  });
  const auditKey = generatePrivateKey();
  const auditRecord = certify(auditKey, 'audit:test', { role: 'audit', subject: LOG });
  const producerKeys = new Map([
    [producerRecord.kid, { publicKey: rawPublicKey(producerKey), subject: PRODUCER }],
  ]);
  const ledger = await createLedgerWriter({
    store: ledgerStore,
    kid: producerRecord.kid,
    privateKey: producerKey,
    checkpoints: {
      auditKeys: () => new Map([[auditRecord.kid, { publicKey: rawPublicKey(auditKey) }]]),
    },
    ...(options.redact ? { redact: options.redact } : {}),
  });
  const reader = new StoreLedgerReader(nodeCrypto, ledgerStore);
  const sequencer = new Sequencer({
    store: ledgerStore,
    auditKid: auditRecord.kid,
    auditKey,
    producerKeys: async () => producerKeys,
    headIntervalMs: options.headIntervalMs ?? 100,
  });
  sequencer.start();
  const authority = createAuthority({
    issuerId: ISSUER,
    producerId: PRODUCER,
    registry,
    ledger,
    reader,
    keyring: new IssuerKeyring(issuerKey('key:test/1'), [issuerKey('key:test/2')]),
    roots,
    adminPolicy: ADMIN_POLICY,
    bootstrapPolicies: (options.policies ?? ['medical-inference-v3']).map((name) => ({
      name,
      source: example(name),
    })),
    keyRecords: [producerRecord, auditRecord],
    heartbeatMs: 250,
    ...(options.openingReaders ? { openingReaders: options.openingReaders } : {}),
  });
  await authority.start();
  const identity = {
    tokens: new TokenTable(options.devTokens ?? [{ identity: GATEWAY, sha256: sha256(GATEWAY_TOKEN) }]),
    trustDomains: [],
  };
  const tls = options.pki && {
    key: Buffer.from(options.pki.server.key),
    cert: Buffer.from(options.pki.server.cert),
    ca: Buffer.from(options.pki.ca),
  };
  const grpc = await startGrpcServer(authority, {
    host: '127.0.0.1',
    port: 0,
    identity,
    ...(options.pki
      ? {
          tls: {
            certFile: join(options.pki.dir, 'server.crt'),
            keyFile: join(options.pki.dir, 'server.key'),
            clientCaFile: join(options.pki.dir, 'ca.crt'),
            reloadSeconds: 60,
          },
        }
      : {}),
  });
  const http = await startHttpServer(authority, {
    host: '127.0.0.1',
    port: 0,
    identity,
    ...(tls ? { tls } : {}),
  });
  const proto = loadPackageDefinition(loadAuthorityProto()) as unknown as {
    governance: { v1: Record<string, new (address: string, credentials: ChannelCredentials) => Client> };
  };
  const clients: Client[] = [];
  return {
    redis,
    client,
    registry,
    ledgerStore,
    ledger,
    reader,
    authority,
    grpc,
    http,
    httpUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${http.port}`,
    grpcClient(service, credentials = grpcCredentials.createInsecure()) {
      const made = new proto.governance.v1[service]!(`127.0.0.1:${grpc.port}`, credentials);
      clients.push(made);
      return made;
    },
    async stop() {
      for (const made of clients) made.close();
      await Promise.all([grpc.close(), http.close()]);
      await authority.stop();
      await sequencer.stop();
      await ledger.close();
      await registry.close();
      await ledgerStore.close();
      await closeRedis(client);
      if (!options.redis) await redis.stop();
    },
  };
}

type UnaryMethod<T> = (
  request: object,
  metadata: Metadata,
  callback: (error: ServiceError | null, value: T) => void,
) => void;

export type UnaryResult<T> =
  { ok: true; value: T } | { ok: false; code: number; details: string; reason: string | undefined };

/** Calls a unary method; resolves with the response, or with the error's code, details and reason. */
export function unary<T = Record<string, unknown>>(
  client: Client,
  method: string,
  request: object,
  metadata: Record<string, string> = {},
): Promise<UnaryResult<T>> {
  const md = new Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  const call = (client as unknown as Record<string, UnaryMethod<T>>)[method]!;
  return new Promise((resolve) => {
    call.call(client, request, md, (error, value) => {
      if (!error) return resolve({ ok: true, value });
      const reason = error.metadata?.get('governance-reason')[0];
      resolve({
        ok: false,
        code: error.code,
        details: error.details,
        reason: typeof reason === 'string' ? reason : undefined,
      });
    });
  });
}
