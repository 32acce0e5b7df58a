// Ingest entries: one producer batch each, `{"events":[…],"kid":"…","val":"…"}` with the events in
// canonical form and one Ed25519 signature over the digest of their array (core/event.ts); the
// sequencer chains each as one record. A producer that commits members of its events
// (docs/spec/ledger.md §3.1) adds `"openings":[[…],…]`: per event, in index order, the openings
// of its commitments. They are neither signed nor chained: each is checked against the signed
// commitment it opens, and stored beside the chain, where it can be erased.
import type { KeyObject } from 'node:crypto';
import { KID_PATTERN } from '../core/artifact.js';
import type { CryptoSuite } from '../core/crypto.js';
import { base64urlDecode, base64urlEncode, utf8Decode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError, type Code } from '../core/errors.js';
import {
  EVENT_LIMITS,
  batchStatement,
  eventsBytes,
  recordBytesBound,
  validateEvent,
  type LedgerEvent,
} from '../core/event.js';
import { signSync } from '../core/keys.js';
import { parseMillis } from '../core/time.js';
import { parseJson } from './records.js';
import { checkObject, signerKeyOf, type ProducerKey, type SignerKey } from '../core/chain.js';
import { canonicalize } from '../core/canonical.js';
import {
  REDACTABLE_MEMBERS,
  parseOpening,
  verifyOpenings,
  type RedactableMember,
} from '../core/redaction.js';

/**
 * The largest ingest entry the sequencer reads: a full batch of maximal events, each with the
 * openings of its commitments (at most the clear event again, plus a salt and a name per member).
 */
export const MAX_INGEST_CHARS =
  2 * EVENT_LIMITS.recordBytes + EVENT_LIMITS.batchSize * REDACTABLE_MEMBERS.length * 128;

/**
 * Seals canonical events (from validateEvent) into one ingest entry with one signature; their
 * record must fit (recordBytesBound ≤ EVENT_LIMITS.recordBytes: the writer sizes its batches).
 * Returns the entry, its events array and signature as the record will spell them.
 * `openings` (canonical opening texts per event, core/redaction.ts) go beside the events,
 * unsigned; the member is left out when no event has one.
 */
export function sealBatch(
  suite: CryptoSuite,
  log: string,
  kid: string,
  privateKey: KeyObject,
  events: Uint8Array[],
  openings?: readonly (readonly string[])[],
): { entry: string; events: string; val: string } {
  const array = eventsBytes(events);
  const val = base64urlEncode(signSync(privateKey, batchStatement(suite, log, kid, events.length, array)));
  const opened =
    openings?.some((o) => o.length > 0) === true
      ? `,"openings":[${events.map((_, i) => `[${(openings[i] ?? []).join(',')}]`).join(',')}]`
      : '';
  const text = utf8Decode(array)!;
  return {
    entry: `{"events":${text},"kid":${JSON.stringify(kid)}${opened},"val":"${val}"}`,
    events: text,
    val,
  };
}

/**
 * A checked batch, ready to be chained as one record: `val` names it (chained once, §4),
 * `events` is its canonical events array, and per event its lineage and the checked openings of
 * its commitments ([member, canonical opening text]).
 */
export interface OpenedBatch {
  kid: string;
  val: string;
  events: string;
  lineages: (string | undefined)[];
  /** The earliest and the latest of its events' `time`, in ms (the replay window, §11.4). */
  times: [number, number];
  openings?: [RedactableMember, string][][];
}

/** The earliest and latest `time` of validated events (validateEvent checked each). */
function eventTimes(events: LedgerEvent[]): [number, number] {
  let [first, last] = [Infinity, -Infinity];
  for (const event of events) {
    const ms = parseMillis(event.time)!;
    if (ms < first) first = ms;
    if (ms > last) last = ms;
  }
  return [first, last];
}

function invalid(message: string): never {
  throw new GovernanceError('ledger.event.invalid', message);
}

/**
 * Checks an ingest entry completely (shape, every event, its record's size, the signature over
 * the events' digest) and returns the batch to chain. Throws ledger.event.invalid or
 * ledger.signature.invalid; nothing of a failing entry is chained.
 */
export function openBatch(suite: CryptoSuite, log: string, text: string, signerKey: SignerKey): OpenedBatch {
  if (text.length > MAX_INGEST_CHARS) invalid(`ingest entry longer than ${MAX_INGEST_CHARS} characters`);
  const { events, kid, val, openings } = checkObject(
    parseJson(text, 'ingest entry'),
    'ingest entry',
    ['events', 'kid', 'val'],
    ['openings'],
  );
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) invalid('ingest entry kid is malformed');
  const signature = typeof val === 'string' ? base64urlDecode(val) : undefined;
  if (signature?.length !== 64) invalid('ingest entry val is not a base64url Ed25519 signature');
  if (!Array.isArray(events) || events.length === 0 || events.length > EVENT_LIMITS.batchSize)
    invalid(`ingest entry must hold 1 to ${EVENT_LIMITS.batchSize} events`);
  const canonical = events.map((event: unknown, i) => {
    try {
      return validateEvent(event);
    } catch (e) {
      return invalid(`event ${i}: ${(e as Error).message}`);
    }
  });
  // One key signs the batch: an audit key for ledger.rejected events, else a producer's (§8).
  const rejections = (events as LedgerEvent[]).filter((e) => e.type === 'ledger.rejected').length;
  if (rejections !== 0 && rejections !== events.length)
    throw new GovernanceError('ledger.signature.invalid', `kid ${kid} may not sign these events together`);
  let publicKey: Uint8Array | undefined;
  for (const event of events as LedgerEvent[]) {
    const signer = signerKey(kid, event);
    if ('refused' in signer) throw new GovernanceError('ledger.signature.invalid', signer.refused);
    publicKey = signer.key;
  }
  const array = eventsBytes(canonical);
  if (recordBytesBound(array.length, events.length, kid.length) > EVENT_LIMITS.recordBytes)
    invalid(`the batch's record could exceed ${EVENT_LIMITS.recordBytes} bytes`);
  if (!suite.verifyEd25519(publicKey!, batchStatement(suite, log, kid, events.length, array), signature!))
    throw new GovernanceError('ledger.signature.invalid', `batch signature by ${kid} does not verify`);
  const opened = openings === undefined ? undefined : checkOpenings(suite, events as LedgerEvent[], openings);
  return {
    kid,
    val: val as string,
    events: utf8Decode(array)!,
    lineages: (events as LedgerEvent[]).map((e) => e.lineage),
    times: eventTimes(events as LedgerEvent[]),
    ...(opened?.some((o) => o.length > 0) ? { openings: opened } : {}),
  };
}

/**
 * The openings member of an ingest entry: one array per event, each opening opening a commitment
 * of its (signed) event (core/redaction.ts verifyOpenings). Returns them as canonical texts by
 * member. Throws ledger.redaction.invalid: the whole entry is refused, so that the ledger never
 * stores an opening that does not open.
 */
function checkOpenings(
  suite: CryptoSuite,
  events: LedgerEvent[],
  openings: unknown,
): [RedactableMember, string][][] {
  if (!Array.isArray(openings) || openings.length !== events.length)
    throw new GovernanceError(
      'ledger.redaction.invalid',
      'ingest entry openings must hold one array per event',
    );
  return openings.map((list: unknown, i) => {
    if (!Array.isArray(list) || list.length > REDACTABLE_MEMBERS.length)
      throw new GovernanceError(
        'ledger.redaction.invalid',
        `openings of event ${i} must be an array of openings`,
      );
    try {
      verifyOpenings(suite, events[i]!, list);
    } catch (e) {
      throw new GovernanceError('ledger.redaction.invalid', `event ${i}: ${(e as Error).message}`);
    }
    return list.map((o: unknown) => {
      const opening = parseOpening(o);
      return [opening.member, canonicalize(opening)] as [RedactableMember, string];
    });
  });
}

/**
 * What opening an ingest entry with the given producer keys gave: the batch, or why it is refused
 * and whether its kid was unknown (fresher producer keys might then open it). Plain data, so that
 * it crosses from a worker thread (sequencer/open-pool.ts) unchanged.
 */
export type OpenResult = { batch: OpenedBatch } | { code: Code; message: string; unknownKid: boolean };

export function openEntry(
  suite: CryptoSuite,
  log: string,
  text: string,
  producers: ReadonlyMap<string, ProducerKey>,
): OpenResult {
  let unknownKid = false;
  const producerKey = signerKeyOf({ producers, audit: new Map() }, log);
  const signer: SignerKey = (kid, event) => {
    unknownKid ||= event.type !== 'ledger.rejected' && !producers.has(kid);
    return producerKey(kid, event);
  };
  try {
    return { batch: openBatch(suite, log, text, signer) };
  } catch (e) {
    const error = isGovernanceError(e) ? e : new GovernanceError('ledger.event.invalid', String(e));
    return { code: error.code, message: error.message, unknownKid };
  }
}
