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
import { base64Decode, base64urlDecode, bytesEqual, hexDecode, utf8Encode } from './encoding.js';
import { GovernanceError, isGovernanceError, type Code } from './errors.js';
import { batchStatement, LINEAGE_STAGES, type ChainRecord } from './event.js';
import { leafHash, rootFromPath } from './merkle.js';
import { indexKey, verifySmtProof, type SmtProof } from './smt.js';
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

/** The record's producer signature: its event's leaf and batch path lead to a root its producer signed for this log. */
function checkOrigin(
  suite: CryptoSuite,
  log: string,
  record: ChainRecord,
  eventBytes: Uint8Array,
  keys: LedgerKeys,
): void {
  const { sig } = record;
  const signer = signerKeyOf(keys, log)(sig.kid, record.event);
  if ('refused' in signer) fail('ledger.signature.invalid', `record ${record.seq}: ${signer.refused}`);
  const path = sig.path.map((ref) => hexDecode(ref.slice('sha3-512:'.length))!);
  const root = rootFromPath(suite, leafHash(suite, eventBytes), sig.index, sig.size, path);
  const valid =
    root !== undefined &&
    suite.verifyEd25519(signer.key, batchStatement(log, sig.kid, sig.size, root), base64urlDecode(sig.val)!);
  if (!valid)
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
  const { record, eventBytes } = checkRecord(parseCanonicalJson(proof.record, 'record'));
  const { log, size, root } = checkpoint.checkpoint;
  if (record.seq > size)
    fail('ledger.proof.invalid', `record ${record.seq} is beyond the checkpoint at ${size}`);
  checkOrigin(suite, log, record, eventBytes, keys);
  const leaf = tlogLeafHash(suite, utf8Encode(proof.record));
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

export interface LineageVerification {
  lineage: string;
  checkpoint: SignedCheckpoint;
  /** Every record of the lineage up to the checkpoint (none: the lineage has no record there). */
  records: ChainRecord[];
  /** Stage-order failures (ledger.lineage.order): the records are proven, their order is wrong. */
  failures: { code: Code; seq: number; message: string }[];
}

/**
 * Verifies what a lineage holds up to a checkpoint. The index proves the lineage's latest record
 * (or that it has none); each record is in the tree, and each names the one before it by
 * lineage_prev, back to null: so these are all its records, and a stage absent from them is
 * absent from the log up to the checkpoint. Throws when the proof does not hold; returns the
 * records with any failures of stage order.
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
    return { lineage, checkpoint, records: [], failures: [] };
  }
  const records: ChainRecord[] = [];
  let prev: string | null = null;
  let lastLeaf: Uint8Array | undefined;
  for (const item of given as Partial<RecordProof>[]) {
    const { record, leaf } = includedRecord(suite, checkpoint, item ?? {}, trust.keys);
    if (record.event.lineage !== lineage)
      fail('ledger.lineage.invalid', `record ${record.seq} is not of ${lineage}`);
    if ((record.lineage_prev ?? null) !== prev)
      fail(
        'ledger.lineage.invalid',
        `record ${record.seq}: lineage_prev does not name the previous record of ${lineage}`,
      );
    records.push(record);
    prev = record.event_hash;
    lastLeaf = leaf;
  }
  if (!lastLeaf || !bytesEqual(lastLeaf, found.value))
    fail(
      'ledger.lineage.invalid',
      `the proof does not end at the latest record of ${lineage} the index names`,
    );
  const failures: LineageVerification['failures'] = [];
  checkStageOrder(suite, records, (code, seq, message) => failures.push({ code, seq, message }));
  return { lineage, checkpoint, records, failures };
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

  /** The next record of the lineage; reports a record out of order. */
  next(
    { seq, event: { type, data } }: Pick<ChainRecord, 'seq' | 'event'>,
    report: (code: Code, seq: number, message: string) => void,
  ): void {
    const stage = (LINEAGE_STAGES as readonly string[]).indexOf(type);
    const { seen, open } = this;
    if (this.count === 0 && stage !== 0) {
      report(
        'ledger.lineage.order',
        seq,
        `record ${seq}: the lineage starts with ${type}, not authorization.issued`,
      );
    } else if (this.count > 0 && stage === 0) {
      report(
        'ledger.lineage.order',
        seq,
        `record ${seq}: authorization.issued after the lineage's first record`,
      );
    } else if (stage >= 2 && seen[stage]! >= seen[stage - 1]!) {
      report(
        'ledger.lineage.order',
        seq,
        `record ${seq}: ${type} without a ${LINEAGE_STAGES[stage - 1]} of its own before it`,
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
          `record ${seq}: the attestation answers no earlier admission.granted of this lineage that is not attested yet`,
        );
      } else {
        open.splice(at, 1);
      }
    }
  }
}

/** StageOrder over a lineage's whole list of records. */
export function checkStageOrder(
  suite: CryptoSuite,
  records: readonly ChainRecord[],
  report: (code: Code, seq: number, message: string) => void,
): void {
  const order = new StageOrder(suite);
  for (const record of records) order.next(record, report);
}
