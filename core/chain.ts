// The ledger's objects as a verifier reads them (docs/spec/ledger.md): the keys that may sign
// them, and strict shape checks for chain records read from untrusted places. Pure, and reached
// by the portable verifier (core/portable.ts).
import { KID_PATTERN } from './artifact.js';
import { parseCanonicalText, type JsonValue } from './canonical.js';
import { GovernanceError } from './errors.js';
import {
  EVENT_LIMITS,
  EVENT_VERSION,
  validateEvent,
  type ChainRecord,
  type LedgerEvent,
  type SignedHead,
} from './event.js';
import { LOG_ID } from './protocol.js';
import type { VerifiedKey } from './registry.js';
import { formatSeconds, parseMillis } from './time.js';

export const SHA3_REF = /^sha3-512:[0-9a-f]{128}$/;
export const BLAKE_REF = /^blake2b-512:[0-9a-f]{128}$/;
/** base64url of a 64-byte Ed25519 signature. */
const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;
/** Deepest Merkle path a batch of EVENT_LIMITS.batchSize leaves can have. */
const MAX_PATH = Math.ceil(Math.log2(EVENT_LIMITS.batchSize));

/** A key record's not_before and not_after (epoch seconds), both instants included. */
export interface KeyValidity {
  notBefore: number;
  notAfter: number;
}

/** An audit key: it signs heads and the ledger's own events, at times within its validity. */
export interface LedgerKey {
  publicKey: Uint8Array;
  /** Absent for a key trusted at any time (one given directly, without a key record). */
  validity?: KeyValidity;
}

/** A producer key as its key record certifies it: the producer it speaks for is its subject. */
export interface ProducerKey extends LedgerKey {
  subject: string;
}

/** Keys by kid: producers sign events, the audit keys sign heads and the ledger's own events. */
export interface LedgerKeys {
  producers: ReadonlyMap<string, ProducerKey>;
  audit: ReadonlyMap<string, LedgerKey>;
}

/** The ledger's keys among certified ones: each producer key with the producer it speaks for, and the audit keys. */
export function ledgerKeysOf(certified: Iterable<VerifiedKey>): LedgerKeys {
  const keys = [...certified];
  const validity = (k: VerifiedKey) => ({ notBefore: k.notBefore, notAfter: k.notAfter });
  return {
    producers: new Map(
      keys
        .filter((k) => k.role === 'producer')
        .map((k) => [k.kid, { publicKey: k.publicKey, subject: k.subject, validity: validity(k) }]),
    ),
    audit: new Map(
      keys
        .filter((k) => k.role === 'audit')
        .map((k) => [k.kid, { publicKey: k.publicKey, validity: validity(k) }]),
    ),
  };
}

/** The public key that must have signed this event under this kid, or why no key may. */
export type SignerKey = (
  kid: string,
  event: Pick<LedgerEvent, 'type' | 'producer' | 'time'>,
) => { key: Uint8Array } | { refused: string };

/** Why a key may not sign at `time` (outside its validity, bounds included), or undefined. */
function outsideValidity(kid: string, { validity }: LedgerKey, time: string): string | undefined {
  if (!validity) return undefined;
  const at = parseMillis(time);
  if (at !== undefined && at >= validity.notBefore * 1000 && at <= validity.notAfter * 1000) return undefined;
  const window = `${formatSeconds(validity.notBefore)} to ${formatSeconds(validity.notAfter)}`;
  return `kid ${kid} is valid from ${window}, not at ${time.slice(0, 32)}`;
}

/**
 * Events the ledger records about itself (ledger.rejected, producer `ledger://<log>`) are signed
 * by an audit key; every other event by the producer key certified for its `producer`. Either
 * way at a `time` within the key's validity.
 */
export function signerKeyOf(keys: LedgerKeys, log: string): SignerKey {
  return (kid, { type, producer, time }) => {
    let certified: LedgerKey | undefined;
    if (type === 'ledger.rejected') {
      certified = keys.audit.get(kid);
      if (!certified) return { refused: `kid ${kid} is not an audit key` };
      if (producer !== `ledger://${log}`)
        return { refused: `a ledger.rejected event's producer must be ledger://${log}` };
    } else {
      const producerKey = keys.producers.get(kid);
      if (!producerKey) return { refused: `kid ${kid} is not a certified producer` };
      if (producerKey.subject !== producer)
        return { refused: `kid ${kid} speaks for ${producerKey.subject}, not for ${producer.slice(0, 128)}` };
      certified = producerKey;
    }
    const outside = outsideValidity(kid, certified, time);
    return outside === undefined ? { key: certified.publicKey } : { refused: outside };
  };
}

/** The audit key that must have signed a head: its kid's, at a head `time` within the key's validity. */
export function headKeyOf(
  keys: LedgerKeys,
  head: Pick<SignedHead, 'time' | 'sig'>,
): { key: Uint8Array } | { refused: string } {
  const kid = head.sig.kid;
  const certified = keys.audit.get(kid);
  if (!certified) return { refused: `kid ${kid.slice(0, 128)} is not an audit key` };
  const outside = outsideValidity(kid, certified, head.time);
  return outside === undefined ? { key: certified.publicKey } : { refused: outside };
}

function invalid(message: string): never {
  throw new GovernanceError('ledger.event.invalid', message);
}

/**
 * An object with exactly these members (an unknown one could carry data no hash or signature
 * covers); throws ledger.event.invalid naming `what`.
 */
export function checkObject(
  value: unknown,
  what: string,
  required: string[],
  optional: string[] = [],
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    invalid(`${what} must be an object`);
  const object = value as Record<string, unknown>;
  for (const key of required) if (!Object.hasOwn(object, key)) invalid(`${what}.${key} is missing`);
  for (const key of Object.keys(object)) {
    if (!required.includes(key) && !optional.includes(key))
      invalid(`${what}.${key.slice(0, 64)} is not allowed`);
  }
  return object;
}

const isCount = (value: unknown, min: number, max: number): value is number =>
  Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;

function checkBatchSignature(value: unknown): void {
  const sig = checkObject(value, 'sig', ['alg', 'kid', 'size', 'index', 'path', 'val']);
  if (sig.alg !== 'ed25519') invalid('sig.alg must be "ed25519"');
  if (typeof sig.kid !== 'string' || !KID_PATTERN.test(sig.kid)) invalid('sig.kid is malformed');
  if (!isCount(sig.size, 1, EVENT_LIMITS.batchSize)) invalid('sig.size is out of range');
  if (!isCount(sig.index, 0, sig.size - 1)) invalid('sig.index is out of range');
  if (!Array.isArray(sig.path) || sig.path.length > MAX_PATH) invalid('sig.path is malformed');
  for (const ref of sig.path)
    if (typeof ref !== 'string' || !SHA3_REF.test(ref)) invalid('sig.path is malformed');
  if (typeof sig.val !== 'string' || !SIGNATURE.test(sig.val))
    invalid('sig.val is not a base64url signature');
}

/**
 * Checks a parsed chain record member by member; throws ledger.event.invalid. Returns the
 * record and the canonical bytes of its event (needed for the Merkle leaf).
 */
export function checkRecord(input: unknown): { record: ChainRecord; eventBytes: Uint8Array } {
  const value = checkObject(
    input,
    'record',
    ['seq', 'event', 'sig', 'event_hash', 'event_hash_alt'],
    ['lineage_prev'],
  );
  if (!isCount(value.seq, 1, Number.MAX_SAFE_INTEGER)) invalid('record.seq must be a positive integer');
  const eventBytes = validateEvent(value.event);
  checkBatchSignature(value.sig);
  if (typeof value.event_hash !== 'string' || !SHA3_REF.test(value.event_hash))
    invalid('record.event_hash is malformed');
  if (typeof value.event_hash_alt !== 'string' || !BLAKE_REF.test(value.event_hash_alt))
    invalid('record.event_hash_alt is malformed');
  const hasLineage = (value.event as { lineage?: unknown }).lineage !== undefined;
  if (hasLineage !== Object.hasOwn(value, 'lineage_prev'))
    invalid('record.lineage_prev must be present exactly when the event has a lineage');
  const prev = value.lineage_prev;
  if (prev !== undefined && prev !== null && (typeof prev !== 'string' || !SHA3_REF.test(prev)))
    invalid('record.lineage_prev must be null or a sha3-512 reference');
  return { record: value as unknown as ChainRecord, eventBytes };
}

/** Checks a parsed signed head member by member (its signature is checked by core verifyHead). */
export function checkHead(input: unknown): SignedHead {
  const value = checkObject(input, 'head', [
    'v',
    'log',
    'seq',
    'event_hash',
    'event_hash_alt',
    'time',
    'sig',
  ]);
  if (value.v !== EVENT_VERSION) invalid('head.v must be "1"');
  if (typeof value.log !== 'string' || !LOG_ID.test(value.log)) invalid('head.log is malformed');
  if (!isCount(value.seq, 1, Number.MAX_SAFE_INTEGER)) invalid('head.seq must be a positive integer');
  if (typeof value.event_hash !== 'string' || !SHA3_REF.test(value.event_hash))
    invalid('head.event_hash is malformed');
  if (typeof value.event_hash_alt !== 'string' || !BLAKE_REF.test(value.event_hash_alt))
    invalid('head.event_hash_alt is malformed');
  if (typeof value.time !== 'string' || parseMillis(value.time) === undefined)
    invalid('head.time must be RFC 3339 UTC with milliseconds');
  const sig = checkObject(value.sig, 'head.sig', ['alg', 'kid', 'val']);
  if (sig.alg !== 'ed25519') invalid('head.sig.alg must be "ed25519"');
  if (typeof sig.kid !== 'string' || !KID_PATTERN.test(sig.kid)) invalid('head.sig.kid is malformed');
  if (typeof sig.val !== 'string' || !SIGNATURE.test(sig.val))
    invalid('head.sig.val is not a base64url signature');
  return value as unknown as SignedHead;
}

/**
 * Parses text that must be canonical JSON (RFC 8785, docs/spec/artifact.md §5.2): a duplicate
 * member, whitespace, another spelling of a string or number, or nesting beyond MAX_JSON_DEPTH
 * fails as encoding.invalid naming `what`, so that no reader can see other members than these.
 */
export function parseCanonicalJson(text: string, what: string): JsonValue {
  try {
    return parseCanonicalText(text);
  } catch (e) {
    throw new GovernanceError('encoding.invalid', `${what}: ${(e as Error).message}`);
  }
}
