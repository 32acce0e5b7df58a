// Generates the ledger v2 test vectors (test/vectors/ledger/) from fixed seeds and fixed times,
// with the generic constructions of core/ (signEventBatch and chainRecord for the chain, tlog and
// smt for the tree and the lineage index, checkpoint and note for checkpoints and witness
// cosignatures): a valid chain of 13 records in 6 batches as an export file, with checkpoints at
// 2, 10 and 13 cosigned by two witnesses; its keys (key records certified by a root, and the
// witnesses' keys); its latest checkpoint; named export variants, each with the failure a
// verifier must report first ({desc, file, checkpoint?, witnesses?, allowRange?, wantErr, wantSeq}
// in cases.json), among them histories a sequencer holding the audit key could write and re-sign;
// and inclusion, consistency and lineage proofs, valid and tampered ({desc, proof, trusted?,
// wantErr} in inclusion-cases.json, consistency-cases.json and lineage-cases.json); and
// openings of a committed event, valid and tampered ({desc, committed, opening, wantErr} in
// redaction-cases.json, docs/spec/ledger.md §3.1). Records no
// writer would accept are spelled with the sequencer's own encoder (ledger/records.ts
// linkRecord). Also example.json, the annotated example of docs/spec/ledger.md.
// `npx tsx test/vectors/generate-ledger.ts` rewrites the folder; test/ledger/vectors.test.ts
// checks that regenerating gives no diff.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestationRef } from '../../core/attestation.js';
import { canonicalize, type JsonValue } from '../../core/canonical.js';
import { checkpointBody, checkpointNote, signCheckpoint, type LedgerCheckpoint, type SignedCheckpoint, type WitnessPolicy } from '../../core/checkpoint.js';
import type { CryptoSuite } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode, base64urlDecode, base64urlEncode, hexEncode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import { batchStatement, chainRecord, chainStateOf, genesis, recordBytes, signEventBatch, validateEvent, type ChainRecord, type LedgerEvent, type SignedEvent } from '../../core/event.js';
import { leafHash, merkleTree } from '../../core/merkle.js';
import { privateKeyFromSeed, rawPublicKey, signSync } from '../../core/keys.js';
import { cosign, verifierKey } from '../../core/note.js';
import type { ConsistencyProof, InclusionProof, LineageProof, RecordProof } from '../../core/proofs.js';
import { certifyKey, keyRecordStatement, verifyKeyRecord, type KeyRecord, type KeyRole } from '../../core/registry.js';
import { SparseMerkleIndex, indexKey, type SmtProof } from '../../core/smt.js';
import { CompactRange, compactRangeHashes, consistencyProof, inclusionProof, tlogLeafHash, tlogNodeHash, type SubtreeHashes } from '../../core/tlog.js';
import { EXPORT_FORMAT, checkpointLine } from '../../ledger/export.js';
import { batchSignatureText, linkRecord } from '../../ledger/records.js';
import { ledgerKeysOf, type LedgerKeys } from '../../core/chain.js';
import { commitEvent, parseOpening } from '../../core/redaction.js';

export const LEDGER_VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ledger');

interface KeysFile {
  log: string;
  root: { kid: string; public_key: string };
  key_records: KeyRecord[];
  witnesses: { name: string; public_key: string }[];
}

const readKeysFile = () => JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'keys.json'), 'utf8')) as KeysFile;

/** keys.json as a verifier takes it: each key record verified under the root it pins. */
export function readLedgerVectorKeys(suite: CryptoSuite = nodeCrypto): LedgerKeys {
  const raw = readKeysFile();
  const roots = new Map([[raw.root.kid, base64urlDecode(raw.root.public_key)!]]);
  return ledgerKeysOf(raw.key_records.map((record) => verifyKeyRecord(suite, record, roots)));
}

/** A case's witness policy ({threshold, witnesses: names}) with the witnesses' keys from keys.json. */
export function readLedgerVectorPolicy(policy: { threshold: number; witnesses: string[] }): WitnessPolicy {
  const known = new Map(readKeysFile().witnesses.map((w) => [w.name, base64urlDecode(w.public_key)!]));
  return { threshold: policy.threshold, witnesses: policy.witnesses.map((name) => ({ name, publicKey: known.get(name)! })) };
}

const sha3 = (text: string) => nodeCrypto.sha3_512(utf8Encode(text));
const seededKey = (name: string) =>
  privateKeyFromSeed(sha3(`execution-governance/test-vectors/ledger/key/${name}`).subarray(0, 32));

export const VECTOR_LOG = 'governance-vectors';
/** The validity of every key record (not_before and not_after): the day of the events. */
const VALIDITY = { not_before: '2026-05-12T00:00:00Z', not_after: '2026-05-12T23:59:59Z' };
/** The root that certifies the producer and audit keys. */
const ROOT = { kid: 'root:vectors/1', key: seededKey('root') };
/** Signing keys; a key's subject is what its key record certifies it for (a producer, or the log). */
const KEYS = {
  authority: { kid: 'producer:authority/1', key: seededKey('authority'), subject: 'authority://prod' },
  authz: { kid: 'producer:authz/1', key: seededKey('authz'), subject: 'authz-server://pod-7f9c' },
  audit: { kid: 'audit:ledger/1', key: seededKey('audit'), subject: VECTOR_LOG },
  stranger: { kid: 'producer:unknown/1', key: seededKey('stranger'), subject: 'authz-server://stranger' },
};
type Signer = (typeof KEYS)[keyof typeof KEYS];
/** The two witnesses that cosign the valid chain's checkpoints (C2SP cosignature/v1). */
const WITNESSES = [
  { name: 'witness.vectors.example/a', key: seededKey('witness-a') },
  { name: 'witness.vectors.example/b', key: seededKey('witness-b') },
];
const TWO_OF_TWO = { threshold: 2, witnesses: WITNESSES.map((w) => w.name) };

const keyRecord = (signer: Signer, role: KeyRole): KeyRecord =>
  certifyKey(
    { v: '1', kid: signer.kid, role, public_key: base64urlEncode(rawPublicKey(signer.key)), subject: signer.subject, ...VALIDITY },
    ROOT.kid,
    (m) => signSync(ROOT.key, m),
  );
/** The key records a verifier is given (the stranger's key has none). */
const KEY_RECORDS = [keyRecord(KEYS.authority, 'producer'), keyRecord(KEYS.authz, 'producer'), keyRecord(KEYS.audit, 'audit')];

const LINEAGE = 'lineage://op/01HZK9R2P3M7F8B4';
/** A second operation, issued later and not run yet; and one that has no record at all. */
const LINEAGE_2 = 'lineage://op/01HZK9R2P3M7F8B5';
const ABSENT_LINEAGE = 'lineage://op/01HZK9R2P3M7F8ZZ';
/** The attestation id the runtime admission of the lineage handed out, and another one. */
const ATTESTATION_ID = 'att_' + '7'.repeat(32);
const OTHER_ATTESTATION_ID = 'att_' + '8'.repeat(32);
const COMMON = {
  identity: 'spiffe://cluster.local/ns/inference/sa/inference-gateway',
  operation: 'model.invoke',
  policy_required: 'policy://medical/inference/v3',
  issuer: 'governance://11-11/authority/prod',
  runtime: 'k8s://cluster-east-1/ns/inference',
};
const at = (ms: number) => new Date(Date.UTC(2026, 4, 12, 17, 4, 11, 0) + ms).toISOString();
const event = (ms: number, fields: Partial<LedgerEvent> & Pick<LedgerEvent, 'type' | 'producer'>): LedgerEvent => ({
  v: '1',
  time: at(ms),
  ...COMMON,
  ...fields,
});

/** The batches, in chain order: each one producer's events sealed with one signature. */
const BATCHES: { signer: Signer; events: LedgerEvent[] }[] = [
  {
    signer: KEYS.authority,
    events: [
      event(0, { type: 'authorization.issued', producer: 'authority://prod', lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4' }),
      event(3, { type: 'authorization.denied', producer: 'authority://prod', reason: 'policy.denied', request_id: 'req-7' }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [
      event(402, { type: 'execution.denied', producer: 'authz-server://pod-7f9c', reason: 'artifact.signature.invalid', artifact_id: 'auth_01HZ0000000000000', request_id: 'req-8' }),
      event(410, { type: 'authorization.consumed', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4' }),
      event(411, { type: 'admission.granted', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4', data: { attestation_ref: attestationRef(nodeCrypto, ATTESTATION_ID) } }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [
      event(520, { type: 'execution.started', producer: 'authz-server://pod-7f9c', lineage: LINEAGE }),
      event(1830, { type: 'attestation.signed', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, data: { attestation: { attestation_id: ATTESTATION_ID, result_digest: 'sha3-512:' + '0'.repeat(128) } } }),
      event(1831, { type: 'execution.completed', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, data: { status: 200 } }),
      event(1835, { type: 'evidence.committed', producer: 'authz-server://pod-7f9c', lineage: LINEAGE }),
    ],
  },
  {
    signer: KEYS.authority,
    events: [event(5000, { type: 'key.rotated', producer: 'authority://prod', data: { from: 'key:11-11/prod/2026-q2', to: 'key:11-11/prod/2026-q3' } })],
  },
  {
    signer: KEYS.authority,
    events: [
      event(5200, { type: 'authorization.issued', producer: 'authority://prod', lineage: LINEAGE_2, artifact_id: 'auth_01HZK9R2P3M7F8B5' }),
      event(5203, { type: 'authorization.denied', producer: 'authority://prod', reason: 'policy.denied', request_id: 'req-9' }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [event(5400, { type: 'execution.denied', producer: 'authz-server://pod-7f9c', reason: 'artifact.expired', artifact_id: 'auth_01HZ0000000000001', request_id: 'req-10' })],
  },
];
/** The event of the one extra record of the `data` cases: its text is spelled out, so it may be one no writer accepts. */
const extraEvent = (data: { [key: string]: JsonValue }): LedgerEvent => ({
  v: '1',
  type: 'runtime.registered',
  time: at(5100),
  producer: KEYS.authority.subject,
  data,
});
/** `levels` arrays nested around 0. */
const nested = (levels: number): JsonValue => (levels === 0 ? 0 : [nested(levels - 1)]);
/** In a record, `data` is at depth 2: 29 arrays inside it bring the innermost to depth 31, the deepest allowed. */
const DEPTH_AT_LIMIT = canonicalize(extraEvent({ nest: nested(29) }));

/** Checkpoints of the valid chain: after its first batch, after its fourth, and at its end. */
const CHECKPOINT_TIME = (size: number) => at(6000 + size);
/** A witness cosigns one second after the checkpoint's time (a cosignature's timestamp is in seconds). */
const COSIGN_TIME = (time: string) => Math.floor(Date.parse(time) / 1000) + 1;

interface ChainOptions {
  /** The log whose genesis the chain starts from (default VECTOR_LOG). */
  genesisLog?: string;
  /** Replaces one batch's signer (an uncertified key). */
  signerOf?: (batch: number) => Signer | undefined;
  /** Edits an event before its batch is signed. */
  editEvent?: (batch: number, index: number, event: LedgerEvent) => LedgerEvent;
  /** Edits a signed event before it is chained (seq from 1). */
  editSigned?: (seq: number, signed: SignedEvent) => SignedEvent;
  /** Replaces the lineage_prev the chain would assign. */
  lineagePrev?: (seq: number, prev: string | null | undefined) => string | null | undefined;
  /** The signed events in the order a (malicious) sequencer chains them; by default each batch in turn. */
  sequence?: (batches: SignedEvent[][]) => SignedEvent[];
  /** One more record after them: its event text, spelled out (a batch of one by the authority's key). */
  extraEvent?: string;
  /** Tree sizes of the checkpoints (default 2, 10 and the last record). */
  checkpointSizes?: number[];
  /** Edits a checkpoint before it is signed (a sequencer holding the audit key signs what it likes). */
  editCheckpoint?: (checkpoint: LedgerCheckpoint) => LedgerCheckpoint;
  /** The witnesses that cosign the checkpoint of this size (default both). */
  cosigners?: (size: number) => typeof WITNESSES;
}

interface Chain {
  /** The records' canonical texts, as stored and exported: leaf i is texts[i]. */
  texts: string[];
  records: ChainRecord[];
  leaves: Uint8Array[];
  /** Signed checkpoints by size. */
  checkpoints: Map<number, SignedCheckpoint>;
}

/** Subtree hashes straight from the leaves (the vectors are small). */
class LeafHashes implements SubtreeHashes {
  constructor(private readonly leaves: Uint8Array[]) {}
  hash(height: number, index: number): Uint8Array {
    if (height === 0) return this.leaves[index]!;
    return tlogNodeHash(nodeCrypto, this.hash(height - 1, 2 * index), this.hash(height - 1, 2 * index + 1));
  }
}

function treeRootOf(leaves: Uint8Array[], size: number): Uint8Array {
  const range = CompactRange.empty(nodeCrypto);
  for (const leaf of leaves.slice(0, size)) range.append(leaf);
  return range.root();
}

/** The lineage index of records 1..size: each lineage's latest record's leaf hash. */
function indexOf(chain: Pick<Chain, 'records' | 'leaves'>, size: number): SparseMerkleIndex {
  const index = new SparseMerkleIndex(nodeCrypto);
  chain.records.slice(0, size).forEach((record, i) => {
    if (record.event.lineage !== undefined) index.set(indexKey(nodeCrypto, record.event.lineage), chain.leaves[i]!);
  });
  return index;
}

async function signedCheckpoint(checkpoint: LedgerCheckpoint, cosigners: typeof WITNESSES): Promise<SignedCheckpoint> {
  const signed = signCheckpoint(nodeCrypto, checkpoint, { publicKey: rawPublicKey(KEYS.audit.key), sign: (m) => signSync(KEYS.audit.key, m) });
  for (const witness of cosigners) {
    const signer = { kid: witness.name, sign: async (m: Uint8Array) => signSync(witness.key, m) };
    signed.signatures.push(await cosign(nodeCrypto, signed.body, witness.name, signer, COSIGN_TIME(checkpoint.time), rawPublicKey(witness.key)));
  }
  return signed;
}

async function buildChain(options: ChainOptions = {}): Promise<Chain> {
  let state = genesis(nodeCrypto, options.genesisLog ?? VECTOR_LOG);
  const tails = new Map<string, string>();
  const records: ChainRecord[] = [];
  const texts: string[] = [];
  const batches = BATCHES.map(({ signer: defaultSigner, events }, b) => {
    const signer = options.signerOf?.(b) ?? defaultSigner;
    const edited = events.map((e, i) => options.editEvent?.(b, i, e) ?? e);
    return signEventBatch(nodeCrypto, VECTOR_LOG, signer.kid, (m) => signSync(signer.key, m), edited);
  });
  const sequence = options.sequence?.(batches) ?? batches.flat();
  for (const signed of sequence) {
    const seq = state.seq + 1;
    const edited = options.editSigned?.(seq, signed) ?? signed;
    const lineage = edited.event.lineage;
    const natural = lineage === undefined ? undefined : (tails.get(lineage) ?? null);
    const next = chainRecord(nodeCrypto, state, edited, options.lineagePrev ? options.lineagePrev(seq, natural) : natural);
    records.push(next.record);
    texts.push(canonicalize(next.record));
    state = next.state;
    if (lineage !== undefined) tails.set(lineage, next.record.event_hash);
  }
  if (options.extraEvent !== undefined) {
    const signer = KEYS.authority;
    const leaf = leafHash(nodeCrypto, utf8Encode(options.extraEvent));
    const val = base64urlEncode(signSync(signer.key, batchStatement(VECTOR_LOG, signer.kid, 1, leaf)));
    const sigText = batchSignatureText(signer.kid, 1, 0, [], val);
    const { record } = linkRecord(state, options.extraEvent, sigText, undefined);
    texts.push(record.text);
    // Parsed loosely: the record may be one strict parsing refuses.
    records.push(JSON.parse(record.text) as ChainRecord);
  }
  const leaves = texts.map((text) => tlogLeafHash(nodeCrypto, utf8Encode(text)));
  const checkpoints = new Map<number, SignedCheckpoint>();
  const sizes = options.checkpointSizes ?? [2, 10, records.length];
  for (const size of sizes) {
    const last = chainStateOf(records[size - 1]!)!;
    const checkpoint: LedgerCheckpoint = {
      log: VECTOR_LOG,
      size,
      root: treeRootOf(leaves, size),
      chain: { hash: last.hash, alt: last.alt },
      index: indexOf({ records, leaves }, size).root(),
      time: CHECKPOINT_TIME(size),
    };
    const edited = options.editCheckpoint?.(checkpoint) ?? checkpoint;
    checkpoints.set(size, await signedCheckpoint(edited, options.cosigners?.(size) ?? WITNESSES));
  }
  return { texts, records, leaves, checkpoints };
}

const noteOf = (signed: SignedCheckpoint) => checkpointNote(signed);

type Line = { record: string; seq: number } | { checkpoint: string; size: number } | { raw: string };

/** Export lines: each checkpoint right after the record of its size. */
function linesOf(chain: Chain): Line[] {
  const lines: Line[] = [];
  chain.texts.forEach((text, i) => {
    lines.push({ record: text, seq: i + 1 });
    const checkpoint = chain.checkpoints.get(i + 1);
    if (checkpoint) lines.push({ checkpoint: noteOf(checkpoint), size: i + 1 });
  });
  return lines;
}

const lineText = (line: Line) => ('raw' in line ? line.raw : 'record' in line ? line.record : checkpointLine(line.checkpoint));

function exportText(lines: Line[], to: number, from = 1, anchor: JsonValue = null): string {
  const header = { anchor, format: EXPORT_FORMAT, from, log: VECTOR_LOG, to };
  return [canonicalize(header), ...lines.map(lineText)].join('\n') + '\n';
}

/** The anchor of a range starting after `seq`: the record's hashes and the compact range of the tree before it. */
function anchorOf(chain: Chain, seq: number): JsonValue {
  const record = chain.records[seq - 1]!;
  const tree = compactRangeHashes(new LeafHashes(chain.leaves), seq).map(base64Encode);
  return { event_hash: record.event_hash, event_hash_alt: record.event_hash_alt, seq, tree };
}

/** Flips the last hex digit of a hash reference. */
const flipHex = (ref: string) => ref.slice(0, -1) + (ref.endsWith('0') ? '1' : '0');
/** Changes the first character of a base64url signature (stays in the alphabet). */
const flipSignature = (val: string) => (val.startsWith('A') ? 'B' : 'A') + val.slice(1);
/** Flips the lowest bit of a hash's first byte. */
const flipBytes = (bytes: Uint8Array) => Uint8Array.from(bytes, (b, i) => (i === 0 ? b ^ 1 : b));
/** A std base64 hash with its first byte changed. */
const flipBase64 = (hash: string) => base64Encode(flipBytes(Uint8Array.from(Buffer.from(hash, 'base64'))));

/** A case: the export in `text`, or another case's `file`; `checkpoint` names a trusted checkpoint file given to the verifier. */
interface Case {
  desc: string;
  wantErr: string | null;
  wantSeq: number | null;
  text?: string;
  file?: string;
  checkpoint?: string;
  witnesses?: typeof TWO_OF_TWO;
  allowRange?: boolean;
}

/** Only the checkpoint at 2, which the honest and the rewritten histories share, is cosigned: witnesses never saw the rest. */
const sharedPrefixOnly = (size: number) => (size <= 2 ? WITNESSES : []);

async function buildCases(valid: Chain): Promise<Map<string, Case>> {
  const lines = linesOf(valid);
  const n = valid.records.length;
  const recordLine = (seq: number) => lines.findIndex((l) => 'record' in l && l.seq === seq);
  const replaceRecord = (seq: number, edit: (r: ChainRecord) => ChainRecord): Line[] =>
    lines.map((l) => ('record' in l && l.seq === seq ? { record: canonicalize(edit(JSON.parse(l.record) as ChainRecord)), seq } : l));
  const without = (...seqs: number[]) => lines.filter((l) => !('record' in l && seqs.includes(l.seq)));
  const withLine = (seq: number, raw: string) => lines.map((l) => ('record' in l && l.seq === seq ? { raw } : l));
  const withCheckpoint = (size: number, note: string) => lines.map((l) => ('checkpoint' in l && l.size === size ? { checkpoint: note, size } : l));
  const swapped = [...lines];
  [swapped[recordLine(7)], swapped[recordLine(8)]] = [swapped[recordLine(8)]!, swapped[recordLine(7)]!];
  const recordText = (seq: number) => valid.texts[seq - 1]!;
  const forged = canonicalize({ ...valid.records[3]!.event, identity: 'spiffe://cluster.local/ns/attacker/sa/forged' });
  const last = valid.checkpoints.get(n)!;
  // A checkpoint validly signed (and cosigned) for 15 records of a chain of 13.
  const overClaim = await signedCheckpoint({ ...last.checkpoint, size: 15, time: CHECKPOINT_TIME(15) }, WITNESSES);
  const badSignature = { ...last, signatures: last.signatures.map((s, i) => (i === 0 ? { ...s, signature: flipBytes(s.signature) } : s)) };
  // Histories a sequencer holding the audit key could write: every hash recomputed, checkpoints re-signed.
  const omitted = await buildChain({ sequence: (b) => [b[0]!, b[1]!, b[2]!, b[4]!, b[5]!].flat(), checkpointSizes: [2, 12], cosigners: sharedPrefixOnly });
  const swappedBatches = await buildChain({ sequence: (b) => [b[0]!, b[1]!, b[2]!, b[4]!, b[3]!, b[5]!].flat(), checkpointSizes: [2, 13], cosigners: sharedPrefixOnly });
  const lastDropped = await buildChain({ sequence: (b) => b.slice(0, 5).flat(), checkpointSizes: [2, 10, 12], cosigners: (size) => (size <= 10 ? WITNESSES : []) });
  const staleSwapped = linesOf(swappedBatches).map((l) => ('checkpoint' in l && l.size === 13 ? { checkpoint: noteOf(last), size: 13 } : l));
  const range = lines.slice(recordLine(11));
  const anchor10 = anchorOf(valid, 10) as { tree: string[] };
  const extra = async (eventText: string) => exportText(linesOf(await buildChain({ extraEvent: eventText })), n + 1);
  const edited = async (edit: (c: LedgerCheckpoint) => LedgerCheckpoint) =>
    exportText(linesOf(await buildChain({ editCheckpoint: (c) => (c.size === 10 ? edit(c) : c) })), n);
  const chain = async (options: ChainOptions, to = n) => exportText(linesOf(await buildChain(options)), to);
  const cases: [string, Case][] = [
    ['valid', { desc: 'a valid chain of 13 records in 6 batches with checkpoints at 2, 10 and 13, each cosigned by both witnesses', wantErr: null, wantSeq: null, text: exportText(lines, n) }],
    ['valid-witnessed', { desc: 'the valid chain under a 2-of-2 witness policy', wantErr: null, wantSeq: null, file: 'valid.jsonl', witnesses: TWO_OF_TWO }],
    ['valid-trusted', { desc: 'the valid chain given its latest checkpoint (checkpoint.json) as trusted', wantErr: null, wantSeq: null, file: 'valid.jsonl', checkpoint: 'checkpoint.json' }],
    ['valid-trusted-earlier', { desc: 'the valid chain given its checkpoint at 10 as trusted', wantErr: null, wantSeq: null, file: 'valid.jsonl', checkpoint: 'checkpoint-10.json' }],
    ['edited-event', { desc: 'record 4 event.operation changed after chaining', wantErr: 'ledger.hash.mismatch', wantSeq: 4, text: exportText(replaceRecord(4, (r) => ({ ...r, event: { ...r.event, operation: 'model.train' } })), n) }],
    ['deleted-record', { desc: 'record 6 removed', wantErr: 'ledger.sequence.invalid', wantSeq: 6, text: exportText(without(6), n) }],
    ['reordered-records', { desc: 'records 7 and 8 swapped', wantErr: 'ledger.sequence.invalid', wantSeq: 7, text: exportText(swapped, n) }],
    ['truncated-tail', { desc: 'records 12 and 13 removed; the checkpoint at 13 kept', wantErr: 'ledger.head.mismatch', wantSeq: 12, text: exportText(without(12, 13), n) }],
    ['checkpoint-claims-more', { desc: 'a validly signed and cosigned checkpoint claims 15 records of a chain of 13', wantErr: 'ledger.head.mismatch', wantSeq: 14, text: exportText([...lines, { checkpoint: noteOf(overClaim), size: 15 }], 15) }],
    ['bad-producer-signature', { desc: 'record 3 chained with a corrupted batch signature (hashes and checkpoints recomputed over it)', wantErr: 'ledger.signature.invalid', wantSeq: 3, text: await chain({ editSigned: (seq, s) => (seq === 3 ? { ...s, sig: { ...s.sig, val: flipSignature(s.sig.val) } } : s) }) }],
    ['unknown-producer-kid', { desc: 'batch 6 (record 13) signed by a key that is not a certified producer, under a certified kid', wantErr: 'ledger.signature.invalid', wantSeq: 13, text: await chain({ signerOf: (b) => (b === 5 ? { ...KEYS.stranger, kid: KEYS.authz.kid } : undefined) }) }],
    ['bad-checkpoint-signature', { desc: 'the checkpoint at 13 with a corrupted log signature', wantErr: 'ledger.signature.invalid', wantSeq: 13, text: exportText(withCheckpoint(13, noteOf(badSignature)), n) }],
    ['checkpoint-outside-audit-key-validity', { desc: 'the checkpoint at 13 signed at 2026-05-13T00:00:00.000Z, after its audit key expired (2026-05-12T23:59:59Z)', wantErr: 'ledger.signature.invalid', wantSeq: 13, text: await chain({ editCheckpoint: (c) => (c.size === 13 ? { ...c, time: '2026-05-13T00:00:00.000Z' } : c) }) }],
    ['malformed-checkpoint', { desc: 'the checkpoint line at 10 holds text that is not a checkpoint note', wantErr: 'ledger.head.mismatch', wantSeq: 10, text: exportText(withCheckpoint(10, 'governance-vectors\n10\n'), n) }],
    ['broken-lineage-prev', { desc: 'record 5 links to record 1 instead of record 4 (hashes and checkpoints recomputed over it)', wantErr: 'ledger.lineage.invalid', wantSeq: 5, text: await chain({ lineagePrev: (seq, prev) => (seq === 5 ? valid.records[0]!.event_hash : prev) }) }],
    ['lineage-out-of-order', { desc: 'authorization.consumed emitted without the lineage: admission.granted (record 5) follows no consumption of its own (validly signed, chained and checkpointed)', wantErr: 'ledger.lineage.order', wantSeq: 5, text: await chain({ editEvent: (b, i, e) => (b === 1 && i === 1 ? (({ lineage: _l, ...rest }) => rest)(e) : e) }) }],
    ['wrong-alt-hash-only', { desc: 'record 6 event_hash_alt changed, event_hash intact', wantErr: 'ledger.hash.mismatch', wantSeq: 6, text: exportText(replaceRecord(6, (r) => ({ ...r, event_hash_alt: flipHex(r.event_hash_alt) })), n) }],
    ['wrong-genesis-log', { desc: 'a chain hashed from the genesis of another log, under checkpoints signed for this one', wantErr: 'ledger.hash.mismatch', wantSeq: 1, text: await chain({ genesisLog: 'governance-other' }) }],
    ['replayed-batch', { desc: 'batch 1 (records 1 and 2) chained again as records 14 and 15 by a sequencer holding the audit key (hashes and checkpoints recomputed)', wantErr: 'ledger.batch.replayed', wantSeq: 14, text: await chain({ sequence: (b) => [...b.flat(), ...b[0]!] }, 15) }],
    ['dropped-event', { desc: 'event 1 of batch 2 (record 4) left out by a sequencer holding the audit key (hashes and checkpoints recomputed)', wantErr: 'ledger.batch.incomplete', wantSeq: 4, text: await chain({ sequence: (b) => b.flat().filter((e) => !(e.sig.val === b[1]![0]!.sig.val && e.sig.index === 1)), checkpointSizes: [2, 12] }, 12) }],
    ['producer-not-key-subject', { desc: 'batch 1 (producer authority://prod) signed by the key certified for authz-server://pod-7f9c', wantErr: 'ledger.signature.invalid', wantSeq: 1, text: await chain({ signerOf: (b) => (b === 0 ? KEYS.authz : undefined) }) }],
    ['event-outside-key-validity', { desc: 'event 0 of batch 2 (record 3) timed after its producer key expired (2026-05-12T23:59:59Z), validly signed', wantErr: 'ledger.signature.invalid', wantSeq: 3, text: await chain({ editEvent: (b, i, e) => (b === 1 && i === 0 ? { ...e, time: '2026-05-13T00:00:00.000Z' } : e) }) }],
    ['not-json-line', { desc: 'record 3 replaced by a line that is not JSON', wantErr: 'encoding.invalid', wantSeq: 3, text: exportText(withLine(3, '{"event":'), n) }],
    ['duplicate-event-member', { desc: 'record 4 with a forged "event" member before the genuine one: a parser keeping the last member sees a valid record, one keeping the first sees the forgery', wantErr: 'encoding.invalid', wantSeq: 4, text: exportText(withLine(4, `{"event":${forged},${recordText(4).slice(1)}`), n) }],
    ['noncanonical-whitespace', { desc: 'record 5 with a space after a colon: the same JSON value, not its canonical bytes', wantErr: 'encoding.invalid', wantSeq: 5, text: exportText(withLine(5, recordText(5).replace(',"seq":5,', ',"seq": 5,')), n) }],
    ['data-depth-at-limit', { desc: 'record 14 whose event data nests 29 arrays: the innermost is at depth 31 of the record, the deepest allowed', wantErr: null, wantSeq: null, text: await extra(DEPTH_AT_LIMIT) }],
    ['data-depth-past-limit', { desc: 'record 14 whose event data nests 30 arrays (depth 32 of the record), validly signed, chained and checkpointed', wantErr: 'encoding.invalid', wantSeq: 14, text: await extra(DEPTH_AT_LIMIT.replace('[0]', '[[0]]')) }],
    ['data-fraction', { desc: 'record 14 whose event data holds the number 1.5 (canonical JSON, not an integer), validly signed, chained and checkpointed', wantErr: 'ledger.event.invalid', wantSeq: 14, text: await extra(canonicalize(extraEvent({ ratio: 1.5 }))) }],
    ['data-unsafe-integer', { desc: 'record 14 whose event data holds 9007199254740992 (2^53, canonical JSON, not a safe integer), validly signed, chained and checkpointed', wantErr: 'ledger.event.invalid', wantSeq: 14, text: await extra(canonicalize(extraEvent({ count: 2 ** 53 }))) }],
    ['record-extra-member', { desc: 'record 2 carries a member no hash covers', wantErr: 'ledger.event.invalid', wantSeq: 2, text: exportText(replaceRecord(2, (r) => ({ ...r, note: 'x' }) as ChainRecord), n) }],
    ['wrong-root-line', { desc: 'the checkpoint at 10 signs a root that is not the tree of records 1..10 (re-signed, cosigned)', wantErr: 'ledger.root.mismatch', wantSeq: 10, text: await edited((c) => ({ ...c, root: flipBytes(c.root) })) }],
    ['wrong-chain-line', { desc: 'the checkpoint at 10 names the hashes of record 9 in its chain line (re-signed, cosigned)', wantErr: 'ledger.head.mismatch', wantSeq: 10, text: await edited((c) => ({ ...c, chain: chainStateOf(valid.records[8]!)! })) }],
    ['wrong-index-line', { desc: 'the checkpoint at 10 commits to a lineage index root that is not that of records 1..10 (re-signed and cosigned: witnesses do not check the index)', wantErr: 'ledger.index.mismatch', wantSeq: 10, text: await edited((c) => ({ ...c, index: flipBytes(c.index) })) }],
    ['unwitnessed-checkpoint', { desc: 'the checkpoint at 10 cosigned by one witness only, under a 2-of-2 policy', wantErr: 'ledger.witness.insufficient', wantSeq: 10, witnesses: TWO_OF_TWO, text: await chain({ cosigners: (size) => (size === 10 ? WITNESSES.slice(0, 1) : WITNESSES) }) }],
    ['batch-omitted', { desc: 'batch 4 (record 10) left out by a sequencer holding the audit key, every hash recomputed and checkpoints re-signed at 12: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(omitted), 12) }],
    ['batch-omitted-trusted', { desc: 'the same history given the honest checkpoint at 10 (checkpoint-10.json) as trusted: its record 10 is not the one the checkpoint signed', wantErr: 'ledger.checkpoint.inconsistent', wantSeq: 10, file: 'batch-omitted.jsonl', checkpoint: 'checkpoint-10.json' }],
    ['batch-omitted-witnessed', { desc: 'the same history under a 2-of-2 witness policy: no witness cosigned its re-signed checkpoint at 12', wantErr: 'ledger.witness.insufficient', wantSeq: 12, file: 'batch-omitted.jsonl', witnesses: TWO_OF_TWO }],
    ['batches-swapped', { desc: 'batches 4 and 5 chained in each other\'s place, every hash recomputed and the checkpoint at 13 re-signed: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(swappedBatches), n) }],
    ['batches-swapped-trusted', { desc: 'the same history given the honest checkpoint at 13 (checkpoint.json) as trusted: same records, another tree', wantErr: 'ledger.checkpoint.inconsistent', wantSeq: 13, file: 'batches-swapped.jsonl', checkpoint: 'checkpoint.json' }],
    ['batches-swapped-stale-checkpoint', { desc: 'batches 4 and 5 swapped, hashes recomputed, but the honest checkpoint at 13 left in place', wantErr: 'ledger.root.mismatch', wantSeq: 13, text: exportText(staleSwapped, n) }],
    ['last-batch-dropped', { desc: 'the last batch (record 13) dropped and a checkpoint at 12 signed by a sequencer holding the audit key: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(lastDropped), 12) }],
    ['last-batch-dropped-trusted', { desc: 'the same history given the checkpoint at 13 (checkpoint.json) as trusted: it ends before it', wantErr: 'ledger.chain.truncated', wantSeq: 13, file: 'last-batch-dropped.jsonl', checkpoint: 'checkpoint.json' }],
    ['cut-at-earlier-checkpoint', { desc: 'records 11..13 and the checkpoint at 13 cut off, the header saying to 10: without a trusted checkpoint, the chain up to its checkpoint at 10 verifies', wantErr: null, wantSeq: null, text: exportText(lines.slice(0, recordLine(11)), 10) }],
    ['cut-at-earlier-checkpoint-trusted', { desc: 'the same file given the checkpoint at 13 (checkpoint.json) as trusted: the chain ends before it', wantErr: 'ledger.chain.truncated', wantSeq: 11, file: 'cut-at-earlier-checkpoint.jsonl', checkpoint: 'checkpoint.json' }],
    ['range', { desc: 'records 11..13 and the checkpoint at 13, from the anchor at 10 (its hashes and the compact range of the tree of records 1..10)', wantErr: null, wantSeq: null, allowRange: true, text: exportText(range, n, 11, anchorOf(valid, 10)) }],
    ['range-trusted-at-anchor', { desc: 'the same range given the checkpoint at 10 as trusted: the anchor is its state', wantErr: null, wantSeq: null, allowRange: true, file: 'range.jsonl', checkpoint: 'checkpoint-10.json' }],
    ['range-not-allowed', { desc: 'the same range when the whole chain is required', wantErr: 'ledger.sequence.invalid', wantSeq: 1, file: 'range.jsonl' }],
    ['range-wrong-anchor-tree', { desc: 'the range with a hash of its anchor\'s compact range changed: the root at 13 does not recompute', wantErr: 'ledger.root.mismatch', wantSeq: 13, allowRange: true, text: exportText(range, n, 11, { ...anchorOf(valid, 10) as object, tree: [flipBase64(anchor10.tree[0]!), anchor10.tree[1]!] }) }],
  ];
  return new Map(cases);
}

/** A proof case: the proof, the checkpoint the verifier already holds (consistency), and the failure it must report. */
interface ProofCase<P> {
  desc: string;
  proof: P;
  trusted?: string;
  wantErr: string | null;
}

const b64 = (hashes: Uint8Array[]) => hashes.map(base64Encode);

function recordProof(chain: Chain, seq: number, size: number): RecordProof {
  return { record: chain.texts[seq - 1]!, proof: b64(inclusionProof(nodeCrypto, new LeafHashes(chain.leaves), seq - 1, size)) };
}

function inclusionOf(chain: Chain, seq: number, size: number): InclusionProof {
  return { checkpoint: noteOf(chain.checkpoints.get(size)!), ...recordProof(chain, seq, size) };
}

function consistencyOf(chain: Chain, old: number, size: number): ConsistencyProof {
  const proof = old === size ? [] : consistencyProof(nodeCrypto, new LeafHashes(chain.leaves), old, size);
  return { old, checkpoint: noteOf(chain.checkpoints.get(size)!), proof: b64(proof) };
}

const indexProofJson = ({ siblings, terminal }: SmtProof): LineageProof['index'] => ({
  siblings: b64(siblings),
  terminal: terminal.kind === 'empty' ? { kind: 'empty' } : { kind: 'leaf', key: base64Encode(terminal.key), value: base64Encode(terminal.value) },
});

/** What the proof endpoint serves for a lineage: its index proof and every record of it, each with its inclusion proof. */
function lineageOf(chain: Chain, lineage: string, size: number): LineageProof {
  const proof = indexOf(chain, size).prove(indexKey(nodeCrypto, lineage));
  const seqs = chain.records.slice(0, size).filter((r) => r.event.lineage === lineage).map((r) => r.seq);
  return {
    lineage,
    checkpoint: noteOf(chain.checkpoints.get(size)!),
    index: indexProofJson(proof),
    records: seqs.map((seq) => recordProof(chain, seq, size)),
  };
}

function flipFirst(hashes: string[]): string[] {
  return hashes.map((h, i) => (i === 0 ? flipBase64(h) : h));
}

function buildInclusionCases(valid: Chain): Map<string, ProofCase<InclusionProof>> {
  const first = inclusionOf(valid, 1, 13);
  return new Map([
    ['inclusion-first', { desc: 'record 1 in the checkpoint at 13 (4 hashes)', proof: first, wantErr: null }],
    ['inclusion-last', { desc: 'record 13, the last, in the checkpoint at 13', proof: inclusionOf(valid, 13, 13), wantErr: null }],
    ['inclusion-earlier-checkpoint', { desc: 'record 5 in the checkpoint at 10', proof: inclusionOf(valid, 5, 10), wantErr: null }],
    ['inclusion-flipped-hash', { desc: 'record 1 with the first hash of its proof changed', proof: { ...first, proof: flipFirst(first.proof) }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-short-proof', { desc: 'record 1 with the last hash of its proof left out', proof: { ...first, proof: first.proof.slice(0, -1) }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-other-record', { desc: 'record 2 given the proof of record 1', proof: { ...first, record: valid.texts[1]! }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-beyond-checkpoint', { desc: 'record 11 against the checkpoint at 10', proof: { ...inclusionOf(valid, 5, 10), record: valid.texts[10]! }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-edited-record', { desc: 'record 4 with its event edited: its producer signature no longer verifies', proof: { ...inclusionOf(valid, 4, 13), record: valid.texts[3]!.replace('"operation":"model.invoke"', '"operation":"model.train"') }, wantErr: 'ledger.signature.invalid' }],
    ['inclusion-bad-checkpoint-signature', { desc: 'record 1 against the checkpoint at 13 with a corrupted log signature', proof: { ...first, checkpoint: noteOf({ ...valid.checkpoints.get(13)!, signatures: valid.checkpoints.get(13)!.signatures.map((s, i) => (i === 0 ? { ...s, signature: flipBytes(s.signature) } : s)) }) }, wantErr: 'ledger.signature.invalid' }],
  ]);
}

function buildConsistencyCases(valid: Chain, swapped: Chain): Map<string, ProofCase<ConsistencyProof>> {
  const note = (size: number) => noteOf(valid.checkpoints.get(size)!);
  const tenToThirteen = consistencyOf(valid, 10, 13);
  return new Map([
    ['consistency-2-13', { desc: 'the checkpoint at 13 extends the one at 2', trusted: note(2), proof: consistencyOf(valid, 2, 13), wantErr: null }],
    ['consistency-10-13', { desc: 'the checkpoint at 13 extends the one at 10', trusted: note(10), proof: tenToThirteen, wantErr: null }],
    ['consistency-same', { desc: 'the checkpoint at 13 against itself: an empty proof', trusted: note(13), proof: consistencyOf(valid, 13, 13), wantErr: null }],
    ['consistency-flipped-hash', { desc: 'from 10 to 13 with the first hash of the proof changed', trusted: note(10), proof: { ...tenToThirteen, proof: flipFirst(tenToThirteen.proof) }, wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-rollback', { desc: 'the checkpoint at 10 offered to a verifier that holds the one at 13: a rolled-back log', trusted: note(13), proof: { old: 13, checkpoint: note(10), proof: [] }, wantErr: 'ledger.checkpoint.rollback' }],
    ['consistency-fork', { desc: 'a checkpoint at 13 signed by the audit key over a history with batches 4 and 5 swapped, offered with its own proof from 10 to a verifier that holds the honest one at 10', trusted: note(10), proof: consistencyOf(swapped, 10, 13), wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-fork-same-size', { desc: 'that forked checkpoint at 13 offered to a verifier that holds the honest one at 13', trusted: note(13), proof: consistencyOf(swapped, 13, 13), wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-wrong-old', { desc: 'a proof from 2 offered to a verifier that holds the checkpoint at 10', trusted: note(10), proof: consistencyOf(valid, 2, 13), wantErr: 'ledger.proof.invalid' }],
  ]);
}

async function buildLineageCases(valid: Chain): Promise<Map<string, ProofCase<LineageProof>>> {
  /** The chain with the events at [batch, index] emitted without the lineage (signed and chained so). */
  const without = (...events: [number, number][]) =>
    buildChain({
      editEvent: (b, i, e) => {
        if (!events.some(([eb, ei]) => eb === b && ei === i)) return e;
        const { lineage: _lineage, ...rest } = e;
        return rest;
      },
    });
  const full = lineageOf(valid, LINEAGE, 13);
  const present = lineageOf(valid, LINEAGE, 13);
  const attestationOfAnother = await buildChain({
    editEvent: (b, i, e) => (b === 2 && i === 1 ? { ...e, data: { attestation: { attestation_id: OTHER_ATTESTATION_ID, result_digest: 'sha3-512:' + '0'.repeat(128) } } } : e),
  });
  const cases: [string, ProofCase<LineageProof>][] = [
    ['lineage-seven-stages', { desc: 'the seven stages in order (records 1, 4..9) in the checkpoint at 13', proof: full, wantErr: null }],
    ['lineage-at-earlier-checkpoint', { desc: 'the same lineage in the checkpoint at 2: its one record then (record 1)', proof: lineageOf(valid, LINEAGE, 2), wantErr: null }],
    ['lineage-issued-only', { desc: 'the second operation: issued (record 11), nothing since, in order', proof: lineageOf(valid, LINEAGE_2, 13), wantErr: null }],
    ['lineage-absent', { desc: 'an operation with no record up to 13: a non-membership proof of the index, no records', proof: lineageOf(valid, ABSENT_LINEAGE, 13), wantErr: null }],
    ['lineage-absent-before-issued', { desc: 'the second operation in the checkpoint at 10, before it was issued: absent', proof: lineageOf(valid, LINEAGE_2, 10), wantErr: null }],
    ['exclusion-of-present', { desc: 'an exclusion for the operation that is present: its index proof with an empty terminal, no records', proof: { ...present, index: { siblings: present.index.siblings, terminal: { kind: 'empty' } }, records: [] }, wantErr: 'ledger.proof.invalid' }],
    ['exclusion-with-other-path', { desc: 'an exclusion for the operation that is present, with the non-membership proof of an absent one', proof: { ...lineageOf(valid, ABSENT_LINEAGE, 13), lineage: LINEAGE }, wantErr: 'ledger.proof.invalid' }],
    ['lineage-record-left-out', { desc: 'the seven stages with record 6 (execution.started) left out: record 7 does not link to record 5', proof: { ...full, records: full.records.filter((_, i) => i !== 3) }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-stops-early', { desc: 'the seven stages without the last record: the index names record 9 as the latest', proof: { ...full, records: full.records.slice(0, -1) }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-flipped-index-sibling', { desc: 'the seven stages with a sibling of the index proof changed', proof: { ...full, index: { ...full.index, siblings: flipFirst(full.index.siblings) } }, wantErr: 'ledger.proof.invalid' }],
    ['lineage-admitted-only', { desc: 'issued, consumed, granted (records 1, 4, 5): an operation admitted and never run stops early, in order', proof: lineageOf(await without([2, 0], [2, 1], [2, 2], [2, 3]), LINEAGE, 13), wantErr: null }],
    ['lineage-attestation-without-admission', { desc: 'issued, then the four execution stages (records 1, 6..9): no authorization.consumed or admission.granted before execution.started', proof: lineageOf(await without([1, 1], [1, 2]), LINEAGE, 13), wantErr: 'ledger.lineage.order' }],
    ['lineage-granted-without-consumed', { desc: 'admission.granted (record 5) with no authorization.consumed before it', proof: lineageOf(await without([1, 1]), LINEAGE, 13), wantErr: 'ledger.lineage.order' }],
    ['lineage-attestation-of-another-admission', { desc: 'attestation.signed (record 7) names an attestation id whose SHA3-512 is no earlier admission.granted\'s attestation_ref', proof: lineageOf(attestationOfAnother, LINEAGE, 13), wantErr: 'ledger.lineage.order' }],
    ['lineage-issued-not-first', { desc: 'the lineage starts with authorization.consumed (record 4): authorization.issued is not first', proof: lineageOf(await without([0, 0]), LINEAGE, 13), wantErr: 'ledger.lineage.order' }],
  ];
  return new Map(cases);
}

/** A redaction case: a committed event, an opening given for it, and whether verifyOpenings accepts it. */
interface RedactionCase {
  desc: string;
  committed: string;
  opening: string;
  wantErr: string | null;
}

/** Salts derived from seeds, so the vectors are reproducible (a producer's salts are random). */
const seededSalts = (name: string) => {
  let n = 0;
  return () => sha3(`execution-governance/test-vectors/ledger/salt/${name}/${n++}`).subarray(0, 32);
};

/** The event of the redaction cases: record 3's event (execution.denied) with data, identity, request_id and data committed. */
function redactedEvent() {
  const clear = { ...BATCHES[1]!.events[0]!, data: { patient: 'MRN-0042', codes: ['J45.909'] } };
  return commitEvent(nodeCrypto, clear, ['identity', 'request_id', 'data'], seededSalts('denied'));
}

function buildRedactionCases(): Map<string, RedactionCase> {
  const { event, openings } = redactedEvent();
  const committed = canonicalize(event);
  const [identity, requestId, data] = openings.map(parseOpening) as [ReturnType<typeof parseOpening>, ReturnType<typeof parseOpening>, ReturnType<typeof parseOpening>];
  const text = (value: unknown) => canonicalize(value);
  const ok = (desc: string, opening: string): RedactionCase => ({ desc, committed, opening, wantErr: null });
  const bad = (desc: string, opening: string): RedactionCase => ({ desc, committed, opening, wantErr: 'ledger.redaction.invalid' });
  return new Map([
    ['redaction-identity', ok('the opening of the committed identity', openings[0]!)],
    ['redaction-request-id', ok('the opening of the committed request_id', openings[1]!)],
    ['redaction-data', ok('the opening of the committed data (an object value)', openings[2]!)],
    ['redaction-changed-value', bad('the identity opening with its value changed', text({ ...identity, value: 'spiffe://cluster.local/ns/other/sa/gateway' }))],
    ['redaction-changed-data', bad('the data opening with a value inside the object changed', text({ ...data, value: { patient: 'MRN-0043', codes: ['J45.909'] } }))],
    ['redaction-wrong-salt', bad('the identity opening with the salt of the request_id opening', text({ ...identity, salt: requestId.salt }))],
    ['redaction-wrong-member', bad('the identity opening relabelled as the request_id (committed, to another value)', text({ ...identity, member: 'request_id' }))],
    ['redaction-member-in-clear', bad('an opening for operation, which the event holds in the clear', text({ member: 'operation', salt: identity.salt, value: 'model.invoke' }))],
    ['redaction-member-not-redactable', bad('an opening for producer, a member that is never committed', text({ ...identity, member: 'producer' }))],
    ['redaction-noncanonical', bad('the valid identity opening with a space after a colon (not canonical JSON)', openings[0]!.replace('"member":', '"member": '))],
    ['redaction-member-order', bad('the valid identity opening with its members out of order', `{"salt":${JSON.stringify(identity.salt)},"member":"identity","value":${JSON.stringify(identity.value)}}`)],
    ['redaction-short-salt', bad('the identity opening with a salt of 31 bytes', text({ ...identity, salt: identity.salt.slice(0, 42) }))],
    ['redaction-extra-member', bad('the identity opening with one more member', text({ ...identity, seq: 3 }))],
    ['redaction-text-type', bad('the data opening with its object value given as its JSON text', text({ ...data, value: canonicalize(data.value) }))],
  ]);
}

/** The values docs/spec/ledger.md shows for the first batch, records 1 and 2 and the checkpoint at 2. */
function example(valid: Chain): Record<string, string> {
  const { records } = valid;
  const first = BATCHES[0]!;
  const eventBytes = first.events.map((e) => validateEvent(e));
  const leaves = eventBytes.map((e) => leafHash(nodeCrypto, e));
  const { root } = merkleTree(nodeCrypto, leaves);
  const start = genesis(nodeCrypto, VECTOR_LOG);
  const text = (bytes: Uint8Array) => utf8Decode(bytes)!;
  const [r1, r2] = records as [ChainRecord, ChainRecord];
  const { event_hash: _h1, event_hash_alt: _a1, ...body1 } = r1;
  const { event_hash: _h2, event_hash_alt: _a2, ...body2 } = r2;
  const checkpoint = valid.checkpoints.get(2)!;
  const { cert: _cert, ...keyBody } = KEY_RECORDS[0]!;
  return {
    log: VECTOR_LOG,
    genesis_seed: `governance-ledger:v1:genesis:${VECTOR_LOG}`,
    genesis_sha3: hexEncode(start.hash),
    genesis_blake2b: hexEncode(start.alt),
    event_1: text(eventBytes[0]!),
    event_2: text(eventBytes[1]!),
    leaf_1: hexEncode(leaves[0]!),
    leaf_2: hexEncode(leaves[1]!),
    batch_root: hexEncode(root),
    batch_statement: text(batchStatement(VECTOR_LOG, first.signer.kid, 2, root)),
    batch_signature: records[0]!.sig.val,
    producer_public_key: base64urlEncode(rawPublicKey(first.signer.key)),
    record_1_bytes: text(recordBytes(body1)),
    record_1: canonicalize(r1),
    record_2_bytes: text(recordBytes(body2)),
    record_2: canonicalize(r2),
    tree_leaf_1: hexEncode(valid.leaves[0]!),
    tree_leaf_2: hexEncode(valid.leaves[1]!),
    checkpoint_body: checkpointBody(checkpoint.checkpoint),
    checkpoint: noteOf(checkpoint),
    log_verifier_key: verifierKey(nodeCrypto, VECTOR_LOG, rawPublicKey(KEYS.audit.key)),
    audit_public_key: base64urlEncode(rawPublicKey(KEYS.audit.key)),
    root_public_key: base64urlEncode(rawPublicKey(ROOT.key)),
    key_record_statement: text(keyRecordStatement(keyBody)),
    key_record: canonicalize(KEY_RECORDS[0]),
    redacted_event: canonicalize(redactedEvent().event),
    opening_identity: redactedEvent().openings[0]!,
  };
}

export async function generateLedgerVectors(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const valid = await buildChain();
  const swapped = await buildChain({ sequence: (b) => [b[0]!, b[1]!, b[2]!, b[4]!, b[3]!, b[5]!].flat(), checkpointSizes: [2, 10, 13], cosigners: sharedPrefixOnly });
  const cases = await buildCases(valid);
  const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  files.set(
    'keys.json',
    json({
      log: VECTOR_LOG,
      root: { kid: ROOT.kid, public_key: base64urlEncode(rawPublicKey(ROOT.key)) },
      key_records: KEY_RECORDS,
      witnesses: WITNESSES.map((w) => ({ name: w.name, public_key: base64urlEncode(rawPublicKey(w.key)) })),
    }),
  );
  files.set('checkpoint.json', json({ checkpoint: noteOf(valid.checkpoints.get(13)!) }));
  files.set('checkpoint-10.json', json({ checkpoint: noteOf(valid.checkpoints.get(10)!) }));
  const entry = (name: string, { desc, file, checkpoint, witnesses, allowRange, wantErr, wantSeq }: Case) => [
    name,
    { desc, file: file ?? `${name}.jsonl`, ...(checkpoint ? { checkpoint } : {}), ...(witnesses ? { witnesses } : {}), ...(allowRange ? { allowRange } : {}), wantErr, wantSeq },
  ];
  files.set('cases.json', json(Object.fromEntries([...cases].map(([name, c]) => entry(name, c)))));
  for (const [name, c] of cases) if (c.text !== undefined) files.set(`${name}.jsonl`, c.text);
  const proofCases = (cases: Map<string, ProofCase<unknown>>) => json(Object.fromEntries(cases));
  files.set('inclusion-cases.json', proofCases(buildInclusionCases(valid)));
  files.set('consistency-cases.json', proofCases(buildConsistencyCases(valid, swapped)));
  files.set('lineage-cases.json', proofCases(await buildLineageCases(valid)));
  files.set('redaction-cases.json', json(Object.fromEntries(buildRedactionCases())));
  files.set('example.json', json(example(valid)));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generateLedgerVectors();
  rmSync(LEDGER_VECTOR_DIR, { recursive: true, force: true });
  mkdirSync(LEDGER_VECTOR_DIR, { recursive: true });
  for (const [name, content] of files) writeFileSync(join(LEDGER_VECTOR_DIR, name), content);
  console.log(`wrote ${files.size} files to ${LEDGER_VECTOR_DIR} (${readdirSync(LEDGER_VECTOR_DIR).length} files)`);
}
