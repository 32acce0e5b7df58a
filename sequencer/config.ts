// The sequencer's configuration from its environment, shared by sequencer/main.ts and the dev
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
// REDIS_CLUSTER_NODES) is read by the caller, with service/config.ts's
// redisConfigFromEnvironment: the dev mode may run without Redis.
import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlDecode, bytesEqual } from '../core/encoding.js';
import { GovernanceError, isGovernanceError } from '../core/errors.js';
import { ledgerKeysOf, type ProducerKey } from '../ledger/records.js';
import { keyFromPem, rawPublicKey } from '../core/keys.js';
import { verifyKeyRecord, type KeyRecord, type VerifiedKey } from '../core/registry.js';
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

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) invalid(`${name} must be set`);
  return value;
}

function optionalPositive(env: Env, name: string): number | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) invalid(`${name} must be a positive integer`);
  return number;
}

function parseRoots(text: string): Map<string, Uint8Array> {
  const roots = new Map<string, Uint8Array>();
  for (const item of text.split(',')) {
    const [kid, key] = item.split('=');
    const raw = key === undefined ? undefined : base64urlDecode(key.trim());
    if (!kid || raw?.length !== 32) invalid('ROOT_KEYS is "kid=base64url,…"');
    roots.set(kid.trim(), raw);
  }
  return roots;
}

/** More than any key, key record or list of producer records needs: a larger file is refused unread. */
const MAX_FILE_BYTES = 1 << 20;

/** The text of the file variable `name` names; config.invalid naming both when it cannot be used. */
async function readNamedFile(name: string, path: string): Promise<string> {
  try {
    const { size } = await stat(path);
    if (size > MAX_FILE_BYTES) invalid(`${name} ${path} is larger than ${MAX_FILE_BYTES} bytes`);
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalid(`cannot read ${name} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function readNamedJson(name: string, path: string): Promise<unknown> {
  const text = await readNamedFile(name, path);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    invalid(`${name} ${path} is not JSON`);
  }
}

/** A key record checked against the roots, its problem named by the variable and file it came from. */
function certified(record: unknown, roots: Map<string, Uint8Array>, where: string): VerifiedKey {
  try {
    return verifyKeyRecord(nodeCrypto, record as KeyRecord, roots);
  } catch (e) {
    invalid(`${where}: ${(e as Error).message}`);
  }
}

async function loadProducerKeys(
  path: string,
  roots: Map<string, Uint8Array>,
): Promise<ReadonlyMap<string, ProducerKey>> {
  const records = await readNamedJson('PRODUCER_KEYS_FILE', path);
  if (!Array.isArray(records)) invalid(`PRODUCER_KEYS_FILE ${path} must hold an array of key records`);
  const keys = records.map((record, i) => certified(record, roots, `PRODUCER_KEYS_FILE ${path} record ${i}`));
  return ledgerKeysOf(keys).producers;
}

/**
 * Reads and validates the variables above and the files they name: config.invalid naming the
 * variable and the file (the Redis variables are the caller's: the dev mode may not use Redis).
 */
export async function loadSequencerConfig(env: Env): Promise<SequencerConfig> {
  const roots = parseRoots(required(env, 'ROOT_KEYS'));
  const producerKeysFile = required(env, 'PRODUCER_KEYS_FILE');
  const auditKid = required(env, 'AUDIT_KID');
  const auditKeyFile = required(env, 'AUDIT_KEY_FILE');
  let auditKey: KeyObject;
  try {
    auditKey = keyFromPem(await readNamedFile('AUDIT_KEY_FILE', auditKeyFile));
  } catch (e) {
    if (isGovernanceError(e, 'config.invalid')) throw e;
    invalid(`AUDIT_KEY_FILE ${auditKeyFile}: ${(e as Error).message}`);
  }
  if (auditKey.type !== 'private') invalid(`AUDIT_KEY_FILE ${auditKeyFile} holds no private key`);
  const auditCertFile = required(env, 'AUDIT_CERT_FILE');
  const auditRecord = (await readNamedJson('AUDIT_CERT_FILE', auditCertFile)) as KeyRecord;
  const audit = certified(auditRecord, roots, `AUDIT_CERT_FILE ${auditCertFile}`);
  if (
    audit.role !== 'audit' ||
    audit.kid !== auditKid ||
    !bytesEqual(audit.publicKey, rawPublicKey(auditKey))
  ) {
    invalid('AUDIT_CERT_FILE must certify AUDIT_KEY_FILE as audit key AUDIT_KID');
  }
  // Read now so that a bad file stops the start; read again when an unknown kid shows up.
  await loadProducerKeys(producerKeysFile, roots);
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
