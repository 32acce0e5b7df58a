// Ledger events, producer batch signatures, the dual hash chain and signed heads
// (docs/spec/ledger.md). Pure: the crypto suite is passed in.
//
// Producers sign batches: the events one process emits within a short window are the leaves of
// a Merkle tree (RFC 6962 shape, SHA3-512, leaf prefix 0x00, node prefix 0x01) whose root is
// signed once. Each event carries its inclusion path, so every event still verifies on its own,
// but a busy enforcement point pays one signature per batch instead of one per event.
import { canonicalBytes, MAX_JSON_DEPTH, type JsonValue } from './canonical.js';
import type { CryptoSuite } from './crypto.js';
import {
  base64urlDecode,
  base64urlEncode,
  concatBytes,
  hexDecode,
  hexEncode,
  utf8Encode,
} from './encoding.js';
import { CODES, GovernanceError, type Code } from './errors.js';
import { leafHash, merkleTree } from './merkle.js';
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

/** A producer's signature over the Merkle root of the batch the event was emitted in. */
export interface BatchSignature {
  alg: 'ed25519';
  kid: string;
  /** Leaves in the batch, and this event's leaf index. */
  size: number;
  index: number;
  /** Sibling hashes from the leaf up ("sha3-512:<hex>"). */
  path: string[];
  /** base64url of the 64-byte Ed25519 signature over the batch statement. */
  val: string;
}

export interface SignedEvent {
  event: LedgerEvent;
  sig: BatchSignature;
}

/** One entry of the chain: what `canonical(event_n)` in §6.2 covers, plus the two hashes. */
export interface ChainRecord {
  seq: number;
  event: LedgerEvent;
  sig: BatchSignature;
  /** event_hash of the previous record of the same lineage; null for the first; absent without lineage. */
  lineage_prev?: string | null;
  event_hash: string;
  event_hash_alt: string;
}

export interface ChainHead {
  v: typeof EVENT_VERSION;
  log: string;
  seq: number;
  event_hash: string;
  event_hash_alt: string;
  time: string;
}

export interface SignedHead extends ChainHead {
  sig: { alg: 'ed25519'; kid: string; val: string };
}

export const EVENT_LIMITS = {
  eventBytes: 16_384,
  stringChars: 512,
  batchSize: 4096,
} as const;

const PRINTABLE = /^[\x21-\x7e]+$/;
const PRINTABLE_TEXT = /^[\x20-\x7e]*$/;
const SHA3_REF = /^sha3-512:[0-9a-f]{128}$/;
const BLAKE_REF = /^blake2b-512:[0-9a-f]{128}$/;
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
 * Where `data` sits in the chain record that carries its event (record 0, event 1, data 2):
 * depth is counted from the record, the largest object a verifier parses, so that every event a
 * writer accepts gives a record within MAX_JSON_DEPTH (docs/spec/ledger.md §3).
 */
const DATA_DEPTH = 2;

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

/** Validates an event body; throws ledger.event.invalid. Returns its canonical bytes. */
export function validateEvent(value: unknown): Uint8Array {
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
    bytes = canonicalBytes(value);
  } catch (e) {
    invalid('ledger.event.invalid', `event is not encodable: ${(e as Error).message}`);
  }
  if (bytes.length > EVENT_LIMITS.eventBytes)
    invalid('ledger.event.invalid', `event larger than ${EVENT_LIMITS.eventBytes} bytes`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Batch signatures: one signature over the Merkle root of a producer's batch (core/merkle.ts)

/**
 * The bytes a producer signs for a batch: domain-separated, so they can never be an artifact or
 * head, and naming the log, so a batch signed for one log is no batch of another.
 */
export function batchStatement(log: string, kid: string, size: number, root: Uint8Array): Uint8Array {
  return canonicalBytes({
    kind: 'governance.event-batch.v1',
    kid,
    log,
    root: 'sha3-512:' + hexEncode(root),
    size,
  });
}

/**
 * Signs a batch of events with one signature. `sign` is synchronous on purpose: batches are
 * sealed on the hot path with a key held in memory.
 */
export function signEventBatch(
  suite: CryptoSuite,
  log: string,
  kid: string,
  sign: (message: Uint8Array) => Uint8Array,
  events: LedgerEvent[],
): SignedEvent[] {
  if (events.length === 0) return [];
  if (events.length > EVENT_LIMITS.batchSize) invalid('ledger.event.invalid', 'batch too large');
  const leaves = events.map((e) => leafHash(suite, validateEvent(e)));
  const { root, paths } = merkleTree(suite, leaves);
  const val = base64urlEncode(sign(batchStatement(log, kid, events.length, root)));
  // Paths share nodes: encode each node once.
  const refs = new Map<Uint8Array, string>();
  const ref = (h: Uint8Array) => refs.get(h) ?? refs.set(h, 'sha3-512:' + hexEncode(h)).get(h)!;
  return events.map((event, index) => ({
    event,
    sig: { alg: 'ed25519', kid, size: events.length, index, path: paths[index]!.map(ref), val },
  }));
}

function hashFromRef(ref: unknown, pattern: RegExp): Uint8Array | undefined {
  if (typeof ref !== 'string' || !pattern.test(ref)) return undefined;
  return hexDecode(ref.slice(ref.indexOf(':') + 1));
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
  const seed = utf8Encode(`governance-ledger:v1:genesis:${log}`);
  return { seq: 0, hash: suite.sha3_512(seed), alt: suite.blake2b_512(seed) };
}

/** The bytes `canonical(event_n)` of §6.2: the record without its two hashes. */
export function recordBytes(record: Omit<ChainRecord, 'event_hash' | 'event_hash_alt'>): Uint8Array {
  const { seq, event, sig, lineage_prev } = record;
  return canonicalBytes(lineage_prev === undefined ? { seq, event, sig } : { seq, event, sig, lineage_prev });
}

/** Appends one signed event to the chain: event_hash_n = SHA3-512(canonical(record_n) || event_hash_{n-1}). */
export function chainRecord(
  suite: CryptoSuite,
  state: ChainState,
  signed: SignedEvent,
  lineagePrev: string | null | undefined,
): { record: ChainRecord; state: ChainState } {
  const seq = state.seq + 1;
  const base = lineagePrev === undefined ? { seq, ...signed } : { seq, ...signed, lineage_prev: lineagePrev };
  const bytes = recordBytes(base);
  const hash = suite.sha3_512(concatBytes(bytes, state.hash));
  const alt = suite.blake2b_512(concatBytes(bytes, state.alt));
  return {
    record: {
      ...base,
      event_hash: 'sha3-512:' + hexEncode(hash),
      event_hash_alt: 'blake2b-512:' + hexEncode(alt),
    },
    state: { seq, hash, alt },
  };
}

export function chainStateOf(
  record: Pick<ChainRecord, 'seq' | 'event_hash' | 'event_hash_alt'>,
): ChainState | undefined {
  const hash = hashFromRef(record.event_hash, SHA3_REF);
  const alt = hashFromRef(record.event_hash_alt, BLAKE_REF);
  if (!hash || !alt || !Number.isSafeInteger(record.seq)) return undefined;
  return { seq: record.seq, hash, alt };
}

// ---------------------------------------------------------------------------------------------
// Signed heads

export function headStatement(head: ChainHead): Uint8Array {
  return canonicalBytes({ ...head, kind: 'governance.chain-head.v1' });
}

export function signHead(
  head: ChainHead,
  kid: string,
  sign: (message: Uint8Array) => Uint8Array,
): SignedHead {
  return { ...head, sig: { alg: 'ed25519', kid, val: base64urlEncode(sign(headStatement(head))) } };
}

export function verifyHead(suite: CryptoSuite, head: SignedHead, auditKey: Uint8Array): boolean {
  if (
    !isObject(head) ||
    !isObject(head.sig) ||
    head.sig.alg !== 'ed25519' ||
    typeof head.sig.val !== 'string'
  )
    return false;
  const signature = base64urlDecode(head.sig.val);
  if (!signature || signature.length !== 64) return false;
  const { sig: _sig, ...body } = head;
  if (typeof body.log !== 'string' || !Number.isSafeInteger(body.seq) || body.seq < 0) return false;
  if (
    !SHA3_REF.test(body.event_hash) ||
    !BLAKE_REF.test(body.event_hash_alt) ||
    parseMillis(body.time) === undefined
  )
    return false;
  try {
    return suite.verifyEd25519(auditKey, headStatement(body), signature);
  } catch {
    return false;
  }
}

export const eventHashRef = (hash: Uint8Array) => 'sha3-512:' + hexEncode(hash);
