// Ingest entries: one producer batch each, `{"events":[…],"kid":"…","val":"…"}` with the events in
// canonical form and one Ed25519 signature over their Merkle root (core/event.ts). Paths are not
// sent: they follow from the events, so the sequencer derives them while it checks the batch,
// and every chained record carries its own.
import type { KeyObject } from 'node:crypto';
import { KID_PATTERN } from '../core/artifact.js';
import type { CryptoSuite } from '../core/crypto.js';
import { base64urlDecode, base64urlEncode, utf8Decode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError, type Code } from '../core/errors.js';
import { EVENT_LIMITS, batchStatement, validateEvent, type LedgerEvent } from '../core/event.js';
import { leafHash, merkleTree } from '../core/merkle.js';
import { signSync } from '../core/keys.js';
import { batchSignatureText, nodeRefs, parseJson } from './records.js';
import { checkObject, signerKeyOf, type ProducerKey, type SignerKey } from '../core/chain.js';

/** The largest ingest entry the sequencer reads: a full batch of maximal events. */
export const MAX_INGEST_CHARS = EVENT_LIMITS.batchSize * (EVENT_LIMITS.eventBytes + 1) + 256;

/** Seals canonical events (from validateEvent) into one ingest entry with one signature. */
export function sealBatch(
  suite: CryptoSuite,
  log: string,
  kid: string,
  privateKey: KeyObject,
  events: Uint8Array[],
): string {
  const { root } = merkleTree(
    suite,
    events.map((e) => leafHash(suite, e)),
  );
  const val = base64urlEncode(signSync(privateKey, batchStatement(log, kid, events.length, root)));
  return `{"events":[${events.map((e) => utf8Decode(e)!).join(',')}],"kid":${JSON.stringify(kid)},"val":"${val}"}`;
}

/** An event ready to be chained: canonical texts of the event and of its batch signature. */
export interface OpenedEvent {
  eventText: string;
  lineage: string | undefined;
  sigText: string;
}

/** A checked batch: its signature (`val`, which names the batch: chained once, §4) and its events in index order. */
export interface OpenedBatch {
  val: string;
  events: OpenedEvent[];
}

function invalid(message: string): never {
  throw new GovernanceError('ledger.event.invalid', message);
}

/**
 * Checks an ingest entry completely (shape, every event, the signature over the Merkle root) and
 * returns its events with their inclusion paths. Throws ledger.event.invalid or
 * ledger.signature.invalid; nothing of a failing entry is chained.
 */
export function openBatch(suite: CryptoSuite, log: string, text: string, signerKey: SignerKey): OpenedBatch {
  if (text.length > MAX_INGEST_CHARS) invalid(`ingest entry longer than ${MAX_INGEST_CHARS} characters`);
  const { events, kid, val } = checkObject(parseJson(text, 'ingest entry'), 'ingest entry', [
    'events',
    'kid',
    'val',
  ]);
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
  const { root, paths } = merkleTree(
    suite,
    canonical.map((e) => leafHash(suite, e)),
  );
  if (!suite.verifyEd25519(publicKey!, batchStatement(log, kid, events.length, root), signature!))
    throw new GovernanceError('ledger.signature.invalid', `batch signature by ${kid} does not verify`);
  const ref = nodeRefs();
  return {
    val: val as string,
    events: canonical.map((bytes, i) => ({
      eventText: utf8Decode(bytes)!,
      lineage: (events[i] as LedgerEvent).lineage,
      sigText: batchSignatureText(kid, events.length, i, paths[i]!.map(ref), val as string),
    })),
  };
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
