// The sequencer's record encoder and the JSON reading of texts the ledger wrote itself
// (docs/spec/ledger.md); what a verifier reads is checked by core/chain.ts.
import { hash as oneShotHash } from 'node:crypto';
import { GovernanceError } from '../core/errors.js';
import type { ChainState } from '../core/event.js';

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

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

let scratch = Buffer.allocUnsafe(16_384);

/** Writes `body` as UTF-8 into the scratch buffer, leaving room for a 64-byte hash after it. */
function writeBody(body: string): number {
  const needed = body.length * 3 + 64;
  if (scratch.length < needed) scratch = Buffer.allocUnsafe(needed);
  return scratch.write(body, 0, 'utf8');
}

/** A record as the sequencer stores it: canonical JSON text plus its two hashes. */
export interface LinkedRecord {
  seq: number;
  text: string;
  eventHash: string;
  eventHashAlt: string;
}

/**
 * Appends a record to the chain from already-canonical parts: `eventText` is the canonical event
 * and `sigText` the canonical batch signature. It spells the record bytes of core recordBytes
 * by concatenation (members in RFC 8785 order: event, lineage_prev, seq, sig) and hashes them with
 * OpenSSL without copying, because the sequencer is the ledger's throughput bottleneck; the
 * verifier recomputes every record with core recordBytes and a CryptoSuite, and
 * test/ledger/records.test.ts checks that both agree.
 */
export function linkRecord(
  state: ChainState,
  eventText: string,
  sigText: string,
  lineagePrev: string | null | undefined,
): { record: LinkedRecord; state: ChainState } {
  const seq = state.seq + 1;
  const prev =
    lineagePrev === undefined ? '' : `,"lineage_prev":${lineagePrev === null ? 'null' : `"${lineagePrev}"`}`;
  const rest = `${prev},"seq":${seq},"sig":${sigText}}`;
  const body = `{"event":${eventText}${rest}`;
  // One UTF-8 encoding into a reused buffer, each chain's previous hash after it in turn, two
  // one-shot digests: no Hash objects and no second encoding of the ~2 KB record.
  const written = writeBody(body);
  scratch.set(state.hash, written);
  const hash = oneShotHash('sha3-512', scratch.subarray(0, written + state.hash.length), 'buffer');
  scratch.set(state.alt, written);
  const alt = oneShotHash('blake2b512', scratch.subarray(0, written + state.alt.length), 'buffer');
  const eventHash = 'sha3-512:' + hash.toString('hex');
  const eventHashAlt = 'blake2b-512:' + alt.toString('hex');
  const text = `{"event":${eventText},"event_hash":"${eventHash}","event_hash_alt":"${eventHashAlt}"${rest}`;
  return { record: { seq, text, eventHash, eventHashAlt }, state: { seq, hash, alt } };
}

/** The canonical text of a batch signature whose kid and val have been checked (no escaping needed); path holds JSON strings. */
export function batchSignatureText(
  kid: string,
  size: number,
  index: number,
  path: string[],
  val: string,
): string {
  return `{"alg":"ed25519","index":${index},"kid":"${kid}","path":[${path.join(',')}],"size":${size},"val":"${val}"}`;
}

/** JSON strings "sha3-512:<hex>" of Merkle nodes; paths share nodes, so each is encoded once. */
export function nodeRefs(): (node: Uint8Array) => string {
  const refs = new Map<Uint8Array, string>();
  return (node) => refs.get(node) ?? refs.set(node, `"sha3-512:${hex(node)}"`).get(node)!;
}
