// The sequencer's configuration from its environment, shared by sequencer-main.ts and the dev
// mode (cli/dev-mode.ts), which runs the sequencer in-process from the same variables:
//   LEDGER_LOG           the log id (names the chain and its genesis)
//   AUDIT_KEY_FILE       PKCS#8 PEM of the audit key (signs heads and ledger.rejected events)
//   AUDIT_KID            its kid
//   AUDIT_CERT_FILE      its key record (role audit, certified by a root): published to the registry
//                        so that third parties find the key that signs heads (/v1/proof/issuers)
//   ROOT_KEYS            pinned root keys: "kid=base64url-public-key[,kid=…]"
//   PRODUCER_KEYS_FILE   JSON array of key records (core/registry.ts) certified by a root; those with
//                        role "producer" are accepted; re-read when an unknown kid shows up
//   LEDGER_KEY_PREFIX    optional Redis key prefix; LEASE_MS, HEAD_INTERVAL_MS optional
//   WAIT_REPLICAS        optional: replicas that must hold a head's records before it is published
//   OPEN_WORKERS         optional: worker threads that open ingest entries while the sequencer's
//                        thread chains (default none; give it the cores Redis and the thread leave)
// The Redis connection (REDIS_URL, or REDIS_MODE with REDIS_SENTINELS and REDIS_SENTINEL_NAME or
// REDIS_CLUSTER_NODES) is read by the caller, with store/service-process.ts's
// redisConfigFromEnvironment: the dev mode may run without Redis.
import { readFile } from 'node:fs/promises';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlDecode, bytesEqual } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { ledgerKeysOf, type ProducerKey } from './records.js';
import { keyFromPem, rawPublicKey } from '../core/keys.js';
import { verifyKeyRecord, type KeyRecord } from '../core/registry.js';
import type { SequencerOptions } from './sequencer.js';

export interface SequencerConfig {
  log: string;
  prefix: string;
  /** For the Redis store: replicas a head waits for (docs/spec/ledger.md §12). */
  replicas: number | undefined;
  /** The audit key's certified record, checked against the roots and the key. */
  auditRecord: KeyRecord;
  /** Everything the Sequencer needs but its store and its log sink. */
  options: Omit<SequencerOptions, 'store' | 'log'>;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new GovernanceError('config.invalid', `${name} must be set`);
  return value;
}

function optionalPositive(env: Env, name: string): number | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0)
    throw new GovernanceError('config.invalid', `${name} must be a positive integer`);
  return number;
}

function parseRoots(text: string): Map<string, Uint8Array> {
  const roots = new Map<string, Uint8Array>();
  for (const item of text.split(',')) {
    const [kid, key] = item.split('=');
    const raw = key === undefined ? undefined : base64urlDecode(key.trim());
    if (!kid || raw?.length !== 32)
      throw new GovernanceError('config.invalid', 'ROOT_KEYS is "kid=base64url,…"');
    roots.set(kid.trim(), raw);
  }
  return roots;
}

async function loadProducerKeys(
  path: string,
  roots: Map<string, Uint8Array>,
): Promise<ReadonlyMap<string, ProducerKey>> {
  const records = JSON.parse(await readFile(path, 'utf8')) as KeyRecord[];
  if (!Array.isArray(records))
    throw new GovernanceError('config.invalid', 'PRODUCER_KEYS_FILE must hold an array');
  return ledgerKeysOf(records.map((record) => verifyKeyRecord(nodeCrypto, record, roots))).producers;
}

/** Reads and validates the variables above (the Redis ones are the caller's: the dev mode may not use Redis). */
export async function loadSequencerConfig(env: Env): Promise<SequencerConfig> {
  const roots = parseRoots(required(env, 'ROOT_KEYS'));
  const producerKeysFile = required(env, 'PRODUCER_KEYS_FILE');
  const auditKid = required(env, 'AUDIT_KID');
  const auditKey = keyFromPem(await readFile(required(env, 'AUDIT_KEY_FILE'), 'utf8'));
  const auditRecord = JSON.parse(await readFile(required(env, 'AUDIT_CERT_FILE'), 'utf8')) as KeyRecord;
  const certified = verifyKeyRecord(nodeCrypto, auditRecord, roots);
  if (
    certified.role !== 'audit' ||
    certified.kid !== auditKid ||
    !bytesEqual(certified.publicKey, rawPublicKey(auditKey))
  ) {
    throw new GovernanceError(
      'config.invalid',
      'AUDIT_CERT_FILE must certify AUDIT_KEY_FILE as audit key AUDIT_KID',
    );
  }
  return {
    auditRecord,
    log: required(env, 'LEDGER_LOG'),
    prefix: env.LEDGER_KEY_PREFIX ?? '',
    replicas: optionalPositive(env, 'WAIT_REPLICAS'),
    options: {
      auditKid,
      auditKey,
      producerKeys: () => loadProducerKeys(producerKeysFile, roots),
      leaseMs: optionalPositive(env, 'LEASE_MS'),
      headIntervalMs: optionalPositive(env, 'HEAD_INTERVAL_MS'),
      openWorkers: optionalPositive(env, 'OPEN_WORKERS'),
    },
  };
}
