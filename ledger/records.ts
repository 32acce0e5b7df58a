// The sequencer's record encoder and the JSON reading of texts the ledger wrote itself
// (docs/spec/ledger.md); what a verifier reads is checked by core/chain.ts.
import { hash as oneShotHash } from 'node:crypto';
import { GovernanceError } from '../core/errors.js';
import type { ChainState, EventPosition } from '../core/event.js';

function invalid(message: string): never {
  throw new GovernanceError('ledger.event.invalid', message);
}

/**
 * Parses JSON text; a syntax error is ledger.event.invalid. Only for texts the sequencer wrote
 * and reads back for their hashes, and ingest entries, whose events are re-encoded canonically
 * before anything is signed or chained; what a verifier or a proof reads is parsed canonically.
 */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    invalid(`${what} is not valid JSON`);
  }
}

let scratch = Buffer.allocUnsafe(65_536 + 64);

/**
 * Writes `body` as UTF-8 into the scratch buffer after a 0x00 byte (the tree's leaf prefix),
 * leaving room for a 64-byte hash after it; returns its length in bytes.
 */
function writeBody(body: string): number {
  const needed = 1 + body.length * 3 + 64;
  if (scratch.length < needed) scratch = Buffer.allocUnsafe(needed);
  scratch[0] = 0x00;
  return scratch.write(body, 1, 'utf8');
}

/** A record as the sequencer stores it: its canonical JSON text, and its tree leaf hash (§7.1). */
export interface LinkedRecord {
  seq: number;
  text: string;
  leaf: Uint8Array;
}

/** The JSON text of a lineage_prev entry (§6). */
const positionText = (p: EventPosition | null) => (p === null ? 'null' : `[${p[0]},${p[1]}]`);

/**
 * Appends a record to the chain from already-checked parts: `eventsText` is the canonical events
 * array, `kid` and `val` are well-formed (no escaping needed). It spells the bytes of core
 * recordBytes by concatenation (members in RFC 8785 order: events, kid, lineage_prev, seq, val)
 * and hashes them with OpenSSL without copying, because the sequencer is the ledger's throughput
 * bottleneck; the verifier recomputes every record with core recordBytes and a CryptoSuite, and
 * test/ledger/records.test.ts checks that both agree.
 */
export function linkRecord(
  state: ChainState,
  eventsText: string,
  kid: string,
  lineagePrev: readonly (EventPosition | null)[],
  val: string,
): { record: LinkedRecord; state: ChainState; lineagePrev: string } {
  const seq = state.seq + 1;
  const prevs = `[${lineagePrev.map(positionText).join(',')}]`;
  const text = `{"events":${eventsText},"kid":"${kid}","lineage_prev":${prevs},"seq":${seq},"val":"${val}"}`;
  // One UTF-8 encoding into a reused buffer, after the leaf prefix and before each chain's previous
  // hash in turn, three one-shot digests: no Hash objects and no second encoding of the record.
  const end = 1 + writeBody(text);
  const leaf = digest('sha256', scratch.subarray(0, end));
  scratch.set(state.hash, end);
  const hash = digest('sha3-512', scratch.subarray(1, end + state.hash.length));
  scratch.set(state.alt, end);
  const alt = digest('blake2b512', scratch.subarray(1, end + state.alt.length));
  return { record: { seq, text, leaf }, state: { seq, hash, alt }, lineagePrev: prevs };
}

/** A one-shot digest copied into Buffer's pool (see core/crypto-node.ts). */
function digest(algorithm: string, data: Uint8Array): Uint8Array {
  return Buffer.from(oneShotHash(algorithm, data, 'binary'), 'latin1');
}
