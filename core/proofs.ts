// Proofs a third party verifies against a checkpoint (docs/spec/ledger.md §10.2–§10.4), with
// nothing but the proof, the keys it trusts and, optionally, a witness policy: that a record is in
// the log (inclusion, ⌈log2 n⌉ hashes), that a later checkpoint extends an earlier one
// (consistency), and what one operation's lineage holds — all of its records, so that a stage
// missing from them is proven absent, or none at all (exclusion, through the lineage index).
// Pure, and reached by the portable verifier.
import { attestationRef } from './attestation.js';
import { checkRecord, parseCanonicalJson, signerKeyOf, type LedgerKeys } from './chain.js';
import {
  parseCheckpointNote,
  verifyCheckpoint,
  type SignedCheckpoint,
  type WitnessPolicy,
} from './checkpoint.js';
import type { CryptoSuite } from './crypto.js';
import { base64Decode, base64urlDecode, utf8Encode } from './encoding.js';
import { GovernanceError, isGovernanceError, type Code } from './errors.js';
import {
  batchStatement,
  EVENT_LIMITS,
  LINEAGE_STAGES,
  type ChainRecord,
  type EventPosition,
  type LedgerEvent,
} from './event.js';
import { indexKey, positionOfValue, verifySmtProof, type SmtProof } from './smt.js';
import { tlogLeafHash, verifyConsistency, verifyInclusion } from './tlog.js';

/** A record and its inclusion proof: base64 hashes, PATH(seq − 1, D[size]) of RFC 9162. */
export interface RecordProof {
  record: string;
  proof: string[];
}

export interface InclusionProof extends RecordProof {
  /** The signed checkpoint note the proof is against. */
  checkpoint: string;
}

export interface ConsistencyProof {
  /** The earlier tree size; the verifier holds a checkpoint of it. */
  old: number;
  checkpoint: string;
  /** PROOF(old, D[size]) of RFC 9162, base64. */
  proof: string[];
}

/** A lineage index proof in JSON: base64 hashes, from the deepest sibling up. */
export interface IndexProof {
  siblings: string[];
  terminal: { kind: 'empty' } | { kind: 'leaf'; key: string; value: string };
}

export interface LineageProof {
  lineage: string;
  checkpoint: string;
  index: IndexProof;
  /** Every record of the lineage up to the checkpoint, in chain order, each with its inclusion proof. */
  records: RecordProof[];
}

/** What the verifier trusts: keys (audit keys sign checkpoints, producer keys events) and witnesses. */
export interface ProofTrust {
  keys: LedgerKeys;
  /** The log expected; by default the checkpoint names it. */
  log?: string;
  /** Required cosignatures (k of n); none: a checkpoint signed by an audit key suffices. */
  witnesses?: WitnessPolicy;
}

/** Bounds the work an untrusted proof can cause. */
const MAX_PROOF_HASHES = 64;
const MAX_INDEX_DEPTH = 256;
const MAX_LINEAGE_RECORDS = 100_000;
const MAX_LINEAGE_EVENTS = 1_000_000;

function fail(code: Code, message: string): never {
  throw new GovernanceError(code, message);
}

function hashes(values: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(values) || values.length > MAX_PROOF_HASHES)
    fail('ledger.proof.invalid', `${what} is not a list of at most ${MAX_PROOF_HASHES} hashes`);
  return values.map((value) => {
    const hash = typeof value === 'string' ? base64Decode(value) : undefined;
    if (hash?.length !== 32) fail('ledger.proof.invalid', `${what} holds a value that is not a base64 hash`);
    return hash;
  });
}

/** A checkpoint note the proof carries: parsed strictly, signed by a trusted audit key, witnessed as required. */
export function trustedCheckpoint(suite: CryptoSuite, note: unknown, trust: ProofTrust): SignedCheckpoint {
  if (typeof note !== 'string') fail('encoding.invalid', 'a proof carries its checkpoint note');
  const signed = parseCheckpointNote(note);
  if (trust.log !== undefined && signed.checkpoint.log !== trust.log)
    fail('ledger.head.mismatch', `the checkpoint is of log ${signed.checkpoint.log}, not ${trust.log}`);
  verifyCheckpoint(suite, signed, trust.keys.audit, trust.witnesses);
  return signed;
}

/**
 * The key that must have signed the record's batch: its kid's, allowed to sign each event
 * (producer and time, §8), or why there is none. Shared with the chain verifier.
 */
export function batchSigner(
  signerKey: ReturnType<typeof signerKeyOf>,
  record: ChainRecord,
): { key: Uint8Array } | { refused: string } {
  let key: Uint8Array | undefined;
  const rejections = record.events.filter((e) => e.type === 'ledger.rejected').length;
  if (rejections !== 0 && rejections !== record.events.length)
    return { refused: 'ledger.rejected events are signed only with each other' };
  for (const [i, event] of record.events.entries()) {
    const signer = signerKey(record.kid, event);
    if ('refused' in signer) return { refused: `event ${i}: ${signer.refused}` };
    key = signer.key;
  }
  return { key: key! };
}

/** The record's producer signature: over the digest of its events, for this log, by a key that may sign them. */
function checkOrigin(
  suite: CryptoSuite,
  log: string,
  record: ChainRecord,
  events: Uint8Array,
  keys: LedgerKeys,
): void {
  const signer = batchSigner(signerKeyOf(keys, log), record);
  if ('refused' in signer) fail('ledger.signature.invalid', `record ${record.seq}: ${signer.refused}`);
  const statement = batchStatement(suite, log, record.kid, record.events.length, events);
  if (!suite.verifyEd25519(signer.key, statement, base64urlDecode(record.val)!))
    fail('ledger.signature.invalid', `record ${record.seq}: the producer signature does not verify`);
}

/** One record of a proof: canonical, well-formed, signed by its producer, and a leaf of the checkpoint's tree. */
function includedRecord(
  suite: CryptoSuite,
  checkpoint: SignedCheckpoint,
  proof: Partial<RecordProof>,
  keys: LedgerKeys,
): { record: ChainRecord; leaf: Uint8Array } {
  if (typeof proof.record !== 'string')
    fail('ledger.event.invalid', 'a record proof carries the record text');
  const text = utf8Encode(proof.record);
  if (text.length > EVENT_LIMITS.recordBytes)
    fail('ledger.event.invalid', `a record is at most ${EVENT_LIMITS.recordBytes} bytes`);
  const { record, events } = checkRecord(parseCanonicalJson(proof.record, 'record'));
  const { log, size, root } = checkpoint.checkpoint;
  if (record.seq > size)
    fail('ledger.proof.invalid', `record ${record.seq} is beyond the checkpoint at ${size}`);
  checkOrigin(suite, log, record, events, keys);
  const leaf = tlogLeafHash(suite, text);
  if (!verifyInclusion(suite, leaf, record.seq - 1, size, hashes(proof.proof, 'proof'), root))
    fail('ledger.proof.invalid', `record ${record.seq} is not in the tree of the checkpoint at ${size}`);
  return { record, leaf };
}

/** Verifies that a record is in the log: returns it and the checkpoint; throws the failure. */
export function verifyInclusionProof(
  suite: CryptoSuite,
  input: unknown,
  trust: ProofTrust,
): { record: ChainRecord; checkpoint: SignedCheckpoint } {
  const proof = (input ?? {}) as Partial<InclusionProof>;
  const checkpoint = trustedCheckpoint(suite, proof.checkpoint, trust);
  return { record: includedRecord(suite, checkpoint, proof, trust.keys).record, checkpoint };
}

/**
 * Verifies that the proof's checkpoint extends `trusted` (a checkpoint the verifier holds, from
 * earlier or from elsewhere): a smaller tree is a rollback, an unequal root at the same size or a
 * failing proof a fork. Returns the newer checkpoint.
 */
export function verifyConsistencyProof(
  suite: CryptoSuite,
  trusted: SignedCheckpoint,
  input: unknown,
  trust: ProofTrust,
): SignedCheckpoint {
  const proof = (input ?? {}) as Partial<ConsistencyProof>;
  const newer = trustedCheckpoint(suite, proof.checkpoint, { ...trust, log: trusted.checkpoint.log });
  const [from, to] = [trusted.checkpoint, newer.checkpoint];
  if (proof.old !== from.size)
    fail('ledger.proof.invalid', `the proof starts at ${String(proof.old)}, not ${from.size}`);
  if (to.size < from.size)
    fail(
      'ledger.checkpoint.rollback',
      `the checkpoint at ${to.size} is older than the one trusted at ${from.size}`,
    );
  if (!verifyConsistency(suite, from.size, to.size, hashes(proof.proof, 'proof'), from.root, to.root))
    fail(
      'ledger.checkpoint.inconsistent',
      `the checkpoint at ${to.size} does not extend the one trusted at ${from.size}`,
    );
  return newer;
}

function indexProofOf(input: unknown): SmtProof {
  const { siblings, terminal } = (input ?? {}) as Partial<IndexProof>;
  if (!Array.isArray(siblings) || siblings.length > MAX_INDEX_DEPTH)
    fail('ledger.proof.invalid', 'the index proof has at most 256 siblings');
  const decoded = siblings.map((s) => {
    const hash = typeof s === 'string' ? base64Decode(s) : undefined;
    if (hash?.length !== 32) fail('ledger.proof.invalid', 'an index sibling is not a base64 hash');
    return hash;
  });
  if (terminal?.kind === 'empty') return { siblings: decoded, terminal: { kind: 'empty' } };
  if (terminal?.kind === 'leaf') {
    const key = typeof terminal.key === 'string' ? base64Decode(terminal.key) : undefined;
    const value = typeof terminal.value === 'string' ? base64Decode(terminal.value) : undefined;
    if (key?.length === 32 && value?.length === 32)
      return { siblings: decoded, terminal: { kind: 'leaf', key, value } };
  }
  fail('ledger.proof.invalid', 'the index proof ends in an empty subtree or a leaf');
}

/** One event of a lineage, where it is in the log. */
export interface LineageEvent {
  seq: number;
  index: number;
  event: LedgerEvent;
}

export interface LineageVerification {
  lineage: string;
  checkpoint: SignedCheckpoint;
  /** The records holding the lineage's events up to the checkpoint, in chain order (none: it has no record there). */
  records: ChainRecord[];
  /** Every event of the lineage up to the checkpoint, in chain order. */
  events: LineageEvent[];
  /** Stage-order failures (ledger.lineage.order): the events are proven, their order is wrong. */
  failures: { code: Code; seq: number; message: string }[];
}

/**
 * Verifies what a lineage holds up to a checkpoint. The index proves the position of the
 * lineage's latest event (or that it has none); each record is in the tree, and from that event
 * each names the one before it by lineage_prev — the previous event of the lineage in the same
 * record if there is one, else the last one of an earlier record — back to null: so these are all
 * its events, and a stage absent from them is absent from the log up to the checkpoint. Throws
 * when the proof does not hold; returns the events with any failures of stage order.
 */
export function verifyLineageProof(
  suite: CryptoSuite,
  input: unknown,
  trust: ProofTrust,
): LineageVerification {
  const proof = (input ?? {}) as Partial<LineageProof>;
  if (typeof proof.lineage !== 'string') fail('ledger.lineage.invalid', 'a lineage proof names its lineage');
  const lineage = proof.lineage;
  const checkpoint = trustedCheckpoint(suite, proof.checkpoint, trust);
  const found = verifySmtProof(
    suite,
    checkpoint.checkpoint.index,
    indexKey(suite, lineage),
    indexProofOf(proof.index),
  );
  if ('invalid' in found) fail('ledger.proof.invalid', `the index proof of ${lineage}: ${found.invalid}`);
  const given = proof.records;
  if (!Array.isArray(given) || given.length > MAX_LINEAGE_RECORDS)
    fail('ledger.lineage.invalid', 'a lineage proof lists its records');
  if (!found.present) {
    if (given.length > 0)
      fail('ledger.lineage.invalid', `the index has no record of ${lineage}, the proof lists some`);
    return { lineage, checkpoint, records: [], events: [], failures: [] };
  }
  const latest = positionOfValue(found.value);
  if (!latest) fail('ledger.proof.invalid', `the index value of ${lineage} is not a position`);
  const records = (given as Partial<RecordProof>[]).map(
    (item) => includedRecord(suite, checkpoint, item ?? {}, trust.keys).record,
  );
  const bySeq = new Map<number, ChainRecord>();
  for (const [i, record] of records.entries()) {
    if (i > 0 && record.seq <= records[i - 1]!.seq)
      fail('ledger.lineage.invalid', `the records are not in chain order at record ${record.seq}`);
    bySeq.set(record.seq, record);
  }
  const events = lineageEvents(lineage, latest, bySeq);
  const visited = new Set(events.map((e) => e.seq));
  const extra = records.find((r) => !visited.has(r.seq));
  if (extra) fail('ledger.lineage.invalid', `record ${extra.seq} holds no event of ${lineage}'s chain`);
  const failures: LineageVerification['failures'] = [];
  checkStageOrder(suite, events, (code, seq, message) => failures.push({ code, seq, message }));
  return { lineage, checkpoint, records, events, failures };
}

/**
 * The lineage's events from its latest one back along lineage_prev, in chain order. Each link
 * must name the previous event of the lineage: within a record the one before (so none is
 * skipped), across records the last event of the lineage in a record the proof holds.
 */
function lineageEvents(
  lineage: string,
  latest: EventPosition,
  bySeq: ReadonlyMap<number, ChainRecord>,
): LineageEvent[] {
  const events: LineageEvent[] = [];
  const lastOf = (record: ChainRecord, before: number) =>
    record.events.findLastIndex((e, i) => i < before && e.lineage === lineage);
  let at: EventPosition | null = latest;
  // The latest event is the last of its record: the index names the latest position.
  let expected = (() => {
    const record = bySeq.get(latest[0]);
    return record ? lastOf(record, record.events.length) : -1;
  })();
  while (at !== null) {
    const [seq, index]: EventPosition = at;
    const record = bySeq.get(seq);
    if (!record) fail('ledger.lineage.invalid', `the proof lacks record ${seq} of ${lineage}`);
    if (index !== expected || record.events[index]?.lineage !== lineage)
      fail(
        'ledger.lineage.invalid',
        `record ${seq}: lineage_prev does not name the previous event of ${lineage} (event ${index})`,
      );
    events.push({ seq, index, event: record.events[index]! });
    if (events.length > MAX_LINEAGE_EVENTS) fail('ledger.lineage.invalid', `${lineage} has too many events`);
    const before = lastOf(record, index);
    const prev: EventPosition | null = record.lineage_prev[index]!;
    if (before >= 0) {
      if (prev?.[0] !== seq || prev[1] !== before)
        fail(
          'ledger.lineage.invalid',
          `record ${seq}: event ${index}'s lineage_prev skips event ${before} of ${lineage}`,
        );
    } else if (prev !== null) {
      if (prev[0] >= seq) fail('ledger.lineage.invalid', `record ${seq}: lineage_prev does not point back`);
      const earlier = bySeq.get(prev[0]);
      expected = earlier ? lastOf(earlier, earlier.events.length) : -1;
    }
    if (before >= 0) expected = before;
    at = prev;
  }
  return events.reverse();
}

/** A typed failure's code, or internal.error for anything else (a verifier reports, never throws on). */
export function proofFailure(e: unknown): { code: Code; message: string } {
  return isGovernanceError(e)
    ? { code: e.code, message: e.message }
    : { code: 'internal.error', message: e instanceof Error ? e.message : String(e) };
}

/**
 * The stages of one operation in the order white paper §6.1 gives them (docs/spec/ledger.md
 * §10.4): authorization.issued first and once; each admission.granted after an
 * authorization.consumed of its own (an artifact of bounded use is admitted again and again);
 * each execution.started after an admission.granted of its own, and each later stage of the
 * execution after one of the stage before it. Stages are counted, not matched, so a lineage that
 * stops early (issued only, or admitted and never run) is in order. Other event types may follow
 * authorization.issued anywhere. An attestation.signed must moreover answer an earlier runtime
 * admission not attested yet: SHA3-512 of its attestation_id is that admission.granted's
 * attestation_ref (docs/authz-server.md, "Attestations"). Kept one record at a time, so that a
 * streaming verifier holds only this per lineage.
 */
export class StageOrder {
  private count = 0;
  private readonly seen = LINEAGE_STAGES.map(() => 0);
  /** attestation_refs of the admissions not attested yet. */
  private readonly open: string[] = [];

  constructor(private readonly suite: CryptoSuite) {}

  /** The next event of the lineage (event `index` of record `seq`); reports one out of order. */
  next(
    { seq, index, event: { type, data } }: LineageEvent,
    report: (code: Code, seq: number, message: string) => void,
  ): void {
    const where = `record ${seq} event ${index}`;
    const stage = (LINEAGE_STAGES as readonly string[]).indexOf(type);
    const { seen, open } = this;
    if (this.count === 0 && stage !== 0) {
      report(
        'ledger.lineage.order',
        seq,
        `${where}: the lineage starts with ${type}, not authorization.issued`,
      );
    } else if (this.count > 0 && stage === 0) {
      report('ledger.lineage.order', seq, `${where}: authorization.issued after the lineage's first record`);
    } else if (stage >= 2 && seen[stage]! >= seen[stage - 1]!) {
      report(
        'ledger.lineage.order',
        seq,
        `${where}: ${type} without a ${LINEAGE_STAGES[stage - 1]} of its own before it`,
      );
    }
    this.count++;
    if (stage >= 0) seen[stage]!++;
    const fields = (data ?? {}) as Record<string, unknown>;
    if (type === 'admission.granted' && typeof fields.attestation_ref === 'string') {
      open.push(fields.attestation_ref);
    } else if (type === 'attestation.signed') {
      const id = (fields.attestation as { attestation_id?: unknown } | undefined)?.attestation_id;
      const at = typeof id === 'string' ? open.indexOf(attestationRef(this.suite, id)) : -1;
      if (at < 0) {
        report(
          'ledger.lineage.order',
          seq,
          `${where}: the attestation answers no earlier admission.granted of this lineage that is not attested yet`,
        );
      } else {
        open.splice(at, 1);
      }
    }
  }
}

/** StageOrder over a lineage's whole list of events. */
export function checkStageOrder(
  suite: CryptoSuite,
  events: readonly LineageEvent[],
  report: (code: Code, seq: number, message: string) => void,
): void {
  const order = new StageOrder(suite);
  for (const event of events) order.next(event, report);
}
