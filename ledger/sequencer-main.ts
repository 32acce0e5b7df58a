// Production entry point of the sequencer: `node dist/ledger/sequencer-main.js`.
// Configuration (environment):
//   REDIS_URL            redis://… of the ledger's Redis
//   LEDGER_LOG           the log id (names the chain and its genesis)
//   AUDIT_KEY_FILE       PKCS#8 PEM of the audit key (signs heads and ledger.rejected events)
//   AUDIT_KID            its kid
//   ROOT_KEYS            pinned root keys: "kid=base64url-public-key[,kid=…]"
//   PRODUCER_KEYS_FILE   JSON array of key records (core/registry.ts) certified by a root; those with
//                        role "producer" are accepted; re-read when an unknown kid shows up
//   LEDGER_KEY_PREFIX    optional Redis key prefix; LEASE_MS, HEAD_INTERVAL_MS optional
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlDecode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { keyFromPem } from '../core/keys.js';
import { verifyKeyRecord, type KeyRecord } from '../core/registry.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { Sequencer } from './sequencer.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new GovernanceError('config.invalid', `${name} must be set`);
  return value;
}

function optionalMs(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isSafeInteger(ms) || ms <= 0)
    throw new GovernanceError('config.invalid', `${name} must be a positive integer`);
  return ms;
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
): Promise<Map<string, Uint8Array>> {
  const records = JSON.parse(await readFile(path, 'utf8')) as KeyRecord[];
  if (!Array.isArray(records))
    throw new GovernanceError('config.invalid', 'PRODUCER_KEYS_FILE must hold an array');
  const keys = new Map<string, Uint8Array>();
  for (const record of records) {
    const key = verifyKeyRecord(nodeCrypto, record, roots);
    if (key.role === 'producer') keys.set(key.kid, key.publicKey);
  }
  return keys;
}

const logger = pino({ name: 'ledger-sequencer' });
const roots = parseRoots(env('ROOT_KEYS'));
const producerKeysFile = env('PRODUCER_KEYS_FILE');
const store = new RedisLedgerStore({
  url: env('REDIS_URL'),
  log: env('LEDGER_LOG'),
  prefix: process.env.LEDGER_KEY_PREFIX ?? '',
});
const sequencer = new Sequencer({
  store,
  auditKid: env('AUDIT_KID'),
  auditKey: keyFromPem(await readFile(env('AUDIT_KEY_FILE'), 'utf8')),
  producerKeys: () => loadProducerKeys(producerKeysFile, roots),
  leaseMs: optionalMs('LEASE_MS'),
  headIntervalMs: optionalMs('HEAD_INTERVAL_MS'),
  log: (level, message) => logger[level](message),
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info(`${signal}: stopping`);
    void sequencer
      .stop()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
}
sequencer.start();
logger.info(`sequencer for log ${store.log} started`);
