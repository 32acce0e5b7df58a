// The ledger's objects as a verifier reads them (docs/spec/ledger.md): the keys that may sign
// them, and strict shape checks for chain records read from untrusted places. Pure, and reached
// by the portable verifier (core/portable.ts).
import { KID_PATTERN } from './artifact.js';
import { parseCanonicalText, type JsonValue } from './canonical.js';
import { GovernanceError } from './errors.js';
import { EVENT_LIMITS, eventsBytes, validateEvent, type ChainRecord, type LedgerEvent } from './event.js';
import type { VerifiedKey } from './registry.js';
import { formatSeconds, parseMillis } from './time.js';

/** base64url of a 64-byte Ed25519 signature. */
const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;

/** A key record's not_before and not_after (epoch seconds), both instants included. */
export interface KeyValidity {
  notBefore: number;
  notAfter: number;
}

/** An audit key: it signs checkpoints and the ledger's own events, at times within its validity. */
export interface LedgerKey {
  publicKey: Uint8Array;
  /** Absent for a key trusted at any time (one given directly, without a key record). */
  validity?: KeyValidity;
}

/** A producer key as its key record certifies it: the producer it speaks for is its subject. */
export interface ProducerKey extends LedgerKey {
  subject: string;
}

/** Keys by kid: producers sign events, the audit keys sign checkpoints and the ledger's own events. */
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

/** A position (§6) in record `seq`'s lineage_prev, for its event `index`: null, or an earlier event. */
function checkPosition(value: unknown, seq: number, index: number): void {
  if (value === null) return;
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !isCount(value[0], 1, seq) ||
    !isCount(value[1], 0, EVENT_LIMITS.batchSize - 1) ||
    (value[0] === seq && value[1] >= index)
  )
    invalid(`record.lineage_prev[${index}] must be null or the position [seq, index] of an earlier event`);
}

/**
 * Checks a chain record parsed strictly from canonical text (parseCanonicalJson) member by member;
 * throws ledger.event.invalid. Returns the record and the canonical bytes of its events array
 * (what the batch digest covers). That lineage_prev names the right events needs the records
 * before it: the verifier checks it.
 */
export function checkRecord(input: unknown): { record: ChainRecord; events: Uint8Array } {
  const value = checkObject(input, 'record', ['events', 'kid', 'lineage_prev', 'seq', 'val']);
  if (!isCount(value.seq, 1, Number.MAX_SAFE_INTEGER)) invalid('record.seq must be a positive integer');
  if (typeof value.kid !== 'string' || !KID_PATTERN.test(value.kid)) invalid('record.kid is malformed');
  if (typeof value.val !== 'string' || !SIGNATURE.test(value.val))
    invalid('record.val is not a base64url signature');
  const { events, lineage_prev: prev, seq } = value;
  if (!Array.isArray(events) || events.length === 0 || events.length > EVENT_LIMITS.batchSize)
    invalid(`record.events must hold 1 to ${EVENT_LIMITS.batchSize} events`);
  const canonical = events.map((event: unknown, i) => {
    try {
      return validateEvent(event, true);
    } catch (e) {
      return invalid(`record.events[${i}]: ${(e as Error).message}`);
    }
  });
  if (!Array.isArray(prev) || prev.length !== events.length)
    invalid('record.lineage_prev must hold one entry per event');
  for (const [i, p] of prev.entries()) {
    checkPosition(p, seq, i);
    if (p !== null && (events[i] as LedgerEvent).lineage === undefined)
      invalid(`record.lineage_prev[${i}] must be null: event ${i} has no lineage`);
  }
  return { record: value as unknown as ChainRecord, events: eventsBytes(canonical) };
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
