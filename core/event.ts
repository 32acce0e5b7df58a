// Ledger events, producer batch signatures, chain records and the dual hash chain
// (docs/spec/ledger.md). Pure: the crypto suite is passed in.
//
// Producers sign batches: the events one process emits within a short window are signed once,
// over the SHA-256 digest of their canonical array, and the sequencer chains each batch whole as
// one record. A busy enforcement point pays one signature per batch, and every byte of an event
// is hashed once per chain and once for the tree.
import { canonicalBytes, MAX_JSON_DEPTH, type JsonValue } from './canonical.js';
import type { CryptoSuite } from './crypto.js';
import { concatBytes, hexEncode, utf8Encode } from './encoding.js';
import { CODES, GovernanceError, type Code } from './errors.js';
import { parseMillis } from './time.js';

export const EVENT_VERSION = '1';

export const EVENT_TYPES = [
  'authorization.issued',
  'authorization.denied',
  'authorization.consumed',
  'admission.granted',
  'execution.denied',
  'execution.started',
  'attestation.signed',
  'execution.completed',
  'evidence.committed',
  'revocation.added',
  'key.certified',
  'key.rotated',
  'policy.published',
  'policy.activated',
  'runtime.registered',
  'admin.allowed',
  'admin.denied',
  // The sequencer refused an ingest entry (bad shape or signature); see docs/spec/ledger.md.
  'ledger.rejected',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The seven stages of one governed operation's lineage (white paper §6.4), in order. */
export const LINEAGE_STAGES = [
  'authorization.issued',
  'authorization.consumed',
  'admission.granted',
  'execution.started',
  'attestation.signed',
  'execution.completed',
  'evidence.committed',
] as const satisfies readonly EventType[];

/** The body a producer emits. Optional fields follow the white paper's denial record (§4.4). */
export interface LedgerEvent {
  v: typeof EVENT_VERSION;
  type: EventType;
  /** RFC 3339 UTC with milliseconds. */
  time: string;
  /** Who produced it, e.g. "authz-server://pod-7f9c". */
  producer: string;
  lineage?: string;
  reason?: Code;
  identity?: string;
  operation?: string;
  policy_required?: string;
  policy_hash?: string;
  artifact_id?: string;
  issuer?: string;
  runtime?: string;
  request_id?: string;
  /** Type-specific details; canonical JSON, bounded. */
  data?: { [key: string]: JsonValue };
}

/** Where an event is: the record (batch) that holds it and its index in the batch. */
export type EventPosition = [seq: number, index: number];

/**
 * One record of the chain (docs/spec/ledger.md §5): a producer's batch as the sequencer chained
 * it. `events`, `kid` and `val` are the producer's, signed; `seq` and `lineage_prev` are the
 * sequencer's, covered by both chains and the tree.
 */
export interface ChainRecord {
  events: LedgerEvent[];
  kid: string;
  /** Per event: the position of the previous event of its lineage; null for the first, or without a lineage. */
  lineage_prev: (EventPosition | null)[];
  seq: number;
  /** base64url of the 64-byte Ed25519 signature over the batch statement. */
  val: string;
}

export const EVENT_LIMITS = {
  eventBytes: 16_384,
  stringChars: 512,
  /**
   * Bytes of a chain record: C2SP entry bundles prefix each entry with a uint16 length, and a
   * record is one entry of the tree (§7.2). Producers seal batches to fit (recordBudget).
   */
  recordBytes: 65_535,
  /** Events of a batch; fewer always fit in recordBytes when they are small (~70 bytes at least). */
  batchSize: 1024,
} as const;

/**
 * The most bytes a record of `count` events whose canonical array is `eventsLength` bytes can
 * take: the members around the events, a kid of `kidLength`, the largest seq, and the longest
 * lineage_prev entry per event (`[9007199254740991,1023],`). At most EVENT_LIMITS.recordBytes.
 */
export function recordBytesBound(eventsLength: number, count: number, kidLength: number): number {
  return eventsLength + kidLength + 156 + 24 * count;
}

const PRINTABLE = /^[\x21-\x7e]+$/;
const PRINTABLE_TEXT = /^[\x20-\x7e]*$/;
const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);
const OPTIONAL_STRING_FIELDS = [
  'lineage',
  'identity',
  'operation',
  'policy_required',
  'policy_hash',
  'artifact_id',
  'issuer',
  'runtime',
  'request_id',
] as const;
const EVENT_FIELDS = new Set<string>([
  'v',
  'type',
  'time',
  'producer',
  'reason',
  'data',
  ...OPTIONAL_STRING_FIELDS,
]);

function invalid(code: Code, message: string): never {
  throw new GovernanceError(code, message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Where `data` sits in the chain record that carries its event (record 0, events 1, event 2,
 * data 3):
 * depth is counted from the record, the largest object a verifier parses, so that every event a
 * writer accepts gives a record within MAX_JSON_DEPTH (docs/spec/ledger.md §3).
 */
const DATA_DEPTH = 3;

/** Every number an integer in the safe range, every container above MAX_JSON_DEPTH (spec §3). */
function checkData(value: unknown, depth: number): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      invalid('ledger.event.invalid', 'event.data numbers must be integers within ±(2^53 − 1)');
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_JSON_DEPTH)
    invalid('ledger.event.invalid', `event.data nests deeper than depth ${MAX_JSON_DEPTH - 1} of its record`);
  for (const item of Array.isArray(value) ? value : Object.values(value)) checkData(item, depth + 1);
}

function checkString(value: unknown, path: string, pattern = PRINTABLE): string {
  if (typeof value !== 'string' || value.length > EVENT_LIMITS.stringChars || !pattern.test(value)) {
    invalid(
      'ledger.event.invalid',
      `${path} must be a printable ASCII string of at most ${EVENT_LIMITS.stringChars} characters`,
    );
  }
  return value;
}

/**
 * Validates an event body; throws ledger.event.invalid. Returns its canonical bytes. `parsed`:
 * the value was parsed strictly from canonical text (core/canonical.ts parseCanonicalText), so
 * its members are in canonical order and JSON.stringify spells it canonically (RFC 8785 serializes
 * strings and numbers as ECMAScript does) without sorting again — half the cost of a verifier.
 */
export function validateEvent(value: unknown, parsed = false): Uint8Array {
  if (!isObject(value)) invalid('ledger.event.invalid', 'event must be an object');
  for (const key of Object.keys(value)) {
    if (!EVENT_FIELDS.has(key))
      invalid('ledger.event.invalid', `event.${key.slice(0, 64)} is not an event field`);
  }
  if (value.v !== EVENT_VERSION) invalid('ledger.event.invalid', 'event.v must be "1"');
  if (typeof value.type !== 'string' || !EVENT_TYPE_SET.has(value.type))
    invalid('ledger.event.invalid', 'unknown event type');
  if (typeof value.time !== 'string' || parseMillis(value.time) === undefined) {
    invalid('ledger.event.invalid', 'event.time must be RFC 3339 UTC with milliseconds');
  }
  checkString(value.producer, 'event.producer');
  for (const key of OPTIONAL_STRING_FIELDS) {
    if (value[key] !== undefined) checkString(value[key], `event.${key}`, PRINTABLE_TEXT);
  }
  if (
    value.reason !== undefined &&
    (typeof value.reason !== 'string' || !Object.hasOwn(CODES, value.reason))
  ) {
    invalid('ledger.event.invalid', 'event.reason must be a code of core/errors.ts');
  }
  if (value.data !== undefined) {
    if (!isObject(value.data)) invalid('ledger.event.invalid', 'event.data must be an object');
    checkData(value.data, DATA_DEPTH);
  }
  let bytes: Uint8Array;
  try {
    bytes = parsed ? utf8Encode(JSON.stringify(value)) : canonicalBytes(value);
  } catch (e) {
    invalid('ledger.event.invalid', `event is not encodable: ${(e as Error).message}`);
  }
  if (bytes.length > EVENT_LIMITS.eventBytes)
    invalid('ledger.event.invalid', `event larger than ${EVENT_LIMITS.eventBytes} bytes`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Batch signatures: one signature over the digest of a producer's batch

/** The canonical JSON array of canonical events: what a batch's digest covers. */
export function eventsBytes(events: readonly Uint8Array[]): Uint8Array {
  const size = events.reduce((n, e) => n + e.length + 1, 1);
  const out = new Uint8Array(size);
  out[0] = 0x5b; // [
  let at = 1;
  for (const [i, e] of events.entries()) {
    if (i > 0) out[at++] = 0x2c; // ,
    out.set(e, at);
    at += e.length;
  }
  out[at] = 0x5d; // ]
  return out;
}

/**
 * The bytes a producer signs for a batch: domain-separated, so they can never be an artifact or
 * checkpoint, and naming the log, so a batch signed for one log is no batch of another. `events`
 * is the canonical events array (eventsBytes); its SHA-256 is the only pass over the events the
 * signature needs.
 */
export function batchStatement(
  suite: CryptoSuite,
  log: string,
  kid: string,
  size: number,
  events: Uint8Array,
): Uint8Array {
  return canonicalBytes({
    digest: 'sha256:' + hexEncode(suite.sha256(events)),
    kid,
    kind: 'governance.event-batch.v2',
    log,
    size,
  });
}

// ---------------------------------------------------------------------------------------------
// The dual chain (white paper §6.2)

export interface ChainState {
  seq: number;
  hash: Uint8Array;
  alt: Uint8Array;
}

/** Genesis of a log: both chains start from a hash of the log id, so logs cannot be spliced. */
export function genesis(suite: CryptoSuite, log: string): ChainState {
  const seed = utf8Encode(`governance-ledger:v2:genesis:${log}`);
  return { seq: 0, hash: suite.sha3_512(seed), alt: suite.blake2b_512(seed) };
}

/** The canonical bytes of a record (§5): what both chains and the tree leaf cover. */
export function recordBytes(record: ChainRecord): Uint8Array {
  return canonicalBytes(record);
}

/** Appends a record's bytes to both chains: hash_n = SHA3-512(record_n || hash_{n-1}), alt likewise. */
export function chainNext(suite: CryptoSuite, state: ChainState, bytes: Uint8Array): ChainState {
  return {
    seq: state.seq + 1,
    hash: suite.sha3_512(concatBytes(bytes, state.hash)),
    alt: suite.blake2b_512(concatBytes(bytes, state.alt)),
  };
}

export const eventHashRef = (hash: Uint8Array) => 'sha3-512:' + hexEncode(hash);
export const eventHashAltRef = (hash: Uint8Array) => 'blake2b-512:' + hexEncode(hash);
