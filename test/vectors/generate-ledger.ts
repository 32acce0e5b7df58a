// Generates the ledger v2 test vectors (test/vectors/ledger/) from fixed seeds and fixed times,
// with the generic constructions of core/ (eventsBytes, batchStatement, genesis and chainNext for
// batches and the dual chain, tlog and smt for the tree and the lineage index, checkpoint and note
// for checkpoints and witness cosignatures): a valid chain of 8 records (one per producer batch,
// 18 events, three operations' lineages, lineage_prev positions within a record and across
// records, one batch of ledger.rejected events signed by the audit key) as an export file, with
// checkpoints at 3, 6 and 8 cosigned by two witnesses; its keys (key records certified by a root,
// and the witnesses' keys); its checkpoints at 8 and 6; named export variants, each with the
// failure a verifier must report first ({desc, file, checkpoint?, witnesses?, allowRange?,
// wantErr, wantSeq} in cases.json), among them histories a sequencer holding the audit key could
// write and re-sign; inclusion, consistency and lineage proofs, valid and tampered ({desc, proof,
// trusted?, wantErr} in inclusion-cases.json, consistency-cases.json and lineage-cases.json); and
// openings of a committed event, valid and tampered ({desc, committed, opening, wantErr} in
// redaction-cases.json, docs/spec/ledger.md §3.1). Record texts are spelled by the sequencer's own
// encoder (ledger/records.ts linkRecord), so that records no writer would accept can be written
// too; each is checked against core recordBytes and chainNext where it parses. Also example.json,
// the annotated example of docs/spec/ledger.md. `npx tsx test/vectors/generate-ledger.ts`
// rewrites the folder; test/ledger/vectors.test.ts checks that regenerating gives no diff.
import type { KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestationRef } from '../../core/attestation.js';
import { canonicalize, type JsonValue } from '../../core/canonical.js';
import { ledgerKeysOf, type LedgerKeys } from '../../core/chain.js';
import { checkpointBody, checkpointNote, signCheckpoint, type LedgerCheckpoint, type SignedCheckpoint, type WitnessPolicy } from '../../core/checkpoint.js';
import type { CryptoSuite } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode, base64urlDecode, base64urlEncode, bytesEqual, hexEncode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import { batchStatement, chainNext, eventHashRef, eventsBytes, genesis, recordBytes, validateEvent, type ChainRecord, type ChainState, type EventPosition, type LedgerEvent } from '../../core/event.js';
import { privateKeyFromSeed, rawPublicKey, signSync } from '../../core/keys.js';
import { cosign, verifierKey } from '../../core/note.js';
import type { ConsistencyProof, InclusionProof, LineageProof, RecordProof } from '../../core/proofs.js';
import { commitEvent, parseOpening } from '../../core/redaction.js';
import { certifyKey, keyRecordStatement, verifyKeyRecord, type KeyRecord, type KeyRole } from '../../core/registry.js';
import { SparseMerkleIndex, indexKey, valueOfPosition, type SmtProof } from '../../core/smt.js';
import { CompactRange, compactRangeHashes, consistencyProof, inclusionProof, tlogLeafHash, tlogNodeHash, type SubtreeHashes } from '../../core/tlog.js';
import { EXPORT_FORMAT, checkpointLine } from '../../ledger/export.js';
import { linkRecord } from '../../ledger/records.js';

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

/** The operation run through its seven stages; one admitted and never run; one issued only; one with no event at all. */
const LINEAGE = 'lineage://op/01HZK9R2P3M7F8B4';
const LINEAGE_2 = 'lineage://op/01HZK9R2P3M7F8B5';
const LINEAGE_3 = 'lineage://op/01HZK9R2P3M7F8B6';
const ABSENT_LINEAGE = 'lineage://op/01HZK9R2P3M7F8ZZ';
/** The attestation ids the runtime admissions of the first two operations handed out. */
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
const AUTHORITY = KEYS.authority.subject;
const AUTHZ = KEYS.authz.subject;
const LEDGER = `ledger://${VECTOR_LOG}`;

/** A ledger.rejected event as the sequencer writes one for a refused ingest entry (§8.2). */
const rejection = (ms: number, ingestId: string, entry: string, reason: LedgerEvent['reason'], detail: string): LedgerEvent => ({
  v: '1',
  type: 'ledger.rejected',
  time: at(ms),
  producer: LEDGER,
  reason,
  data: { detail, entry_chars: entry.length, entry_sha3: eventHashRef(sha3(entry)), ingest_id: ingestId },
});

/**
 * The batches, in chain order: each one producer's events sealed with one signature, chained as
 * one record (record n is batch n − 1). Record 2 links its second and third events within itself;
 * record 4 interleaves two lineages, each event linking to the one before it in the record or to
 * an earlier record.
 */
const BATCHES: { signer: Signer; events: LedgerEvent[] }[] = [
  {
    signer: KEYS.authority,
    events: [
      event(0, { type: 'authorization.issued', producer: AUTHORITY, lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4' }),
      event(3, { type: 'authorization.denied', producer: AUTHORITY, reason: 'policy.denied', request_id: 'req-7' }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [
      event(402, { type: 'execution.denied', producer: AUTHZ, reason: 'artifact.signature.invalid', artifact_id: 'auth_01HZ0000000000000', request_id: 'req-8' }),
      event(410, { type: 'authorization.consumed', producer: AUTHZ, lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4' }),
      event(411, { type: 'admission.granted', producer: AUTHZ, lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4', data: { attestation_ref: attestationRef(nodeCrypto, ATTESTATION_ID) } }),
    ],
  },
  {
    signer: KEYS.authority,
    events: [event(450, { type: 'authorization.issued', producer: AUTHORITY, lineage: LINEAGE_2, artifact_id: 'auth_01HZK9R2P3M7F8B5' })],
  },
  {
    signer: KEYS.authz,
    events: [
      event(520, { type: 'execution.started', producer: AUTHZ, lineage: LINEAGE }),
      event(600, { type: 'authorization.consumed', producer: AUTHZ, lineage: LINEAGE_2, artifact_id: 'auth_01HZK9R2P3M7F8B5' }),
      event(601, { type: 'admission.granted', producer: AUTHZ, lineage: LINEAGE_2, artifact_id: 'auth_01HZK9R2P3M7F8B5', data: { attestation_ref: attestationRef(nodeCrypto, OTHER_ATTESTATION_ID) } }),
      event(1830, { type: 'attestation.signed', producer: AUTHZ, lineage: LINEAGE, data: { attestation: { attestation_id: ATTESTATION_ID, result_digest: 'sha3-512:' + '0'.repeat(128) } } }),
      event(1831, { type: 'execution.completed', producer: AUTHZ, lineage: LINEAGE, data: { status: 200 } }),
      event(1835, { type: 'evidence.committed', producer: AUTHZ, lineage: LINEAGE }),
    ],
  },
  {
    signer: KEYS.authority,
    events: [event(5000, { type: 'key.rotated', producer: AUTHORITY, data: { from: 'key:11-11/prod/2026-q2', to: 'key:11-11/prod/2026-q3' } })],
  },
  {
    signer: KEYS.audit,
    events: [
      rejection(5100, '1778605456100-0', '{"events":[],"kid":"producer:authz/1","val":"x"}', 'ledger.event.invalid', 'ingest entry must hold 1 to 1024 events'),
      rejection(5100, '1778605456100-1', '{"events":[{"v":"1"}],"kid":"producer:unknown/1","val":"y"}', 'ledger.signature.invalid', 'kid producer:unknown/1 is not a certified producer'),
    ],
  },
  {
    signer: KEYS.authority,
    events: [
      event(5200, { type: 'authorization.issued', producer: AUTHORITY, lineage: LINEAGE_3, artifact_id: 'auth_01HZK9R2P3M7F8B6' }),
      event(5203, { type: 'authorization.denied', producer: AUTHORITY, reason: 'policy.denied', request_id: 'req-9' }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [event(5400, { type: 'execution.denied', producer: AUTHZ, reason: 'artifact.expired', artifact_id: 'auth_01HZ0000000000001', request_id: 'req-10' })],
  },
];

/** A batch as sealed: its kid, its events' canonical texts (in order) and the signature over their array. */
interface Sealed {
  kid: string;
  texts: string[];
  val: string;
}

/** Seals event texts as a producer does (core/event.ts): one signature over the digest of their canonical array. */
function sealTexts(signer: Pick<Signer, 'kid' | 'key'>, texts: string[], log = VECTOR_LOG): Sealed {
  const array = eventsBytes(texts.map(utf8Encode));
  const val = base64urlEncode(signSync(signer.key, batchStatement(nodeCrypto, log, signer.kid, texts.length, array)));
  return { kid: signer.kid, texts, val };
}
const eventText = (e: LedgerEvent) => utf8Decode(validateEvent(e))!;
const seal = (signer: Pick<Signer, 'kid' | 'key'>, events: LedgerEvent[]) => sealTexts(signer, events.map(eventText));
const arrayText = (texts: string[]) => `[${texts.join(',')}]`;
/** The lineage of an event text, read loosely (the text may be one strict parsing refuses). */
const lineageOf = (text: string) => (JSON.parse(text) as Partial<LedgerEvent>).lineage;

/** The event of the records after the valid chain's in the `data` and size cases: its text is spelled out, so it may be one no writer accepts. */
const extraEvent = (data: { [key: string]: JsonValue }, ms = 5500): LedgerEvent => ({
  v: '1',
  type: 'runtime.registered',
  time: at(ms),
  producer: AUTHORITY,
  data,
});
/** `levels` arrays nested around 0. */
const nested = (levels: number): JsonValue => (levels === 0 ? 0 : [nested(levels - 1)]);
/**
 * In a record, `data` is at depth 3 (record 0, events 1, event 2): 28 arrays inside it bring the
 * innermost to depth 31, the deepest allowed; 29 to depth 32. The event alone is shallow enough
 * for canonicalize, the record is not.
 */
const DEPTH_AT_LIMIT = canonicalize(extraEvent({ nest: nested(28) }));
const DEPTH_PAST_LIMIT = canonicalize(extraEvent({ nest: nested(29) }));

/** Checkpoints of the valid chain: after its third record, after its sixth, and at its end. */
const CHECKPOINT_TIME = (size: number) => at(6000 + size);
/** A witness cosigns one second after the checkpoint's time (a cosignature's timestamp is in seconds). */
const COSIGN_TIME = (time: string) => Math.floor(Date.parse(time) / 1000) + 1;

interface ChainOptions {
  /** The log whose genesis the chain starts from (default VECTOR_LOG). */
  genesisLog?: string;
  /** Replaces one batch's signer (under its own kid). */
  signerOf?: (batch: number) => Pick<Signer, 'kid' | 'key'> | undefined;
  /** Edits an event before its batch is sealed. */
  editEvent?: (batch: number, index: number, event: LedgerEvent) => LedgerEvent;
  /** Edits a sealed batch before it is chained (a sequencer tampering with what it was given). */
  editSealed?: (batch: number, sealed: Sealed) => Sealed;
  /** The sealed batches in the order a (malicious) sequencer chains them; by default each in turn. */
  sequence?: (batches: Sealed[]) => Sealed[];
  /** Replaces the lineage_prev the sequencer would assign to event `index` of record `seq`. */
  lineagePrev?: (seq: number, index: number, natural: EventPosition | null) => EventPosition | null;
  /** Replaces the lineage index value of a lineage's latest event (default valueOfPosition). */
  indexValue?: (lineage: string, latest: EventPosition) => Uint8Array;
  /** Tree sizes of the checkpoints (default 3, 6 and the last record). */
  checkpointSizes?: number[];
  /** Edits a checkpoint before it is signed (a sequencer holding the audit key signs what it likes). */
  editCheckpoint?: (checkpoint: LedgerCheckpoint) => LedgerCheckpoint;
  /** The key that signs the checkpoint of this size under the log's name (default the audit key). */
  checkpointKey?: (size: number) => KeyObject;
  /** The witnesses that cosign the checkpoint of this size (default both). */
  cosigners?: (size: number) => typeof WITNESSES;
}

interface Chain {
  /** The records' canonical texts, as stored and exported: leaf i is texts[i]. */
  texts: string[];
  /** The records, parsed loosely (a record may be one strict parsing refuses). */
  records: ChainRecord[];
  leaves: Uint8Array[];
  /** The chain state after each record: states[i] is that of record i + 1. */
  states: ChainState[];
  /** The lineage index value of an event as the checkpoints commit to it. */
  indexValue: (lineage: string, latest: EventPosition) => Uint8Array;
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

/** The lineage index of records 1..size: each lineage's latest event's position. */
function indexOf(chain: Pick<Chain, 'records' | 'indexValue'>, size: number): SparseMerkleIndex {
  const index = new SparseMerkleIndex(nodeCrypto);
  for (const record of chain.records.slice(0, size))
    record.events.forEach((e, i) => {
      if (e.lineage !== undefined) index.set(indexKey(nodeCrypto, e.lineage), chain.indexValue(e.lineage, [record.seq, i]));
    });
  return index;
}

async function signedCheckpoint(checkpoint: LedgerCheckpoint, cosigners: typeof WITNESSES, key = KEYS.audit.key): Promise<SignedCheckpoint> {
  const signed = signCheckpoint(nodeCrypto, checkpoint, { publicKey: rawPublicKey(key), sign: (m) => signSync(key, m) });
  for (const witness of cosigners) {
    const signer = { kid: witness.name, sign: async (m: Uint8Array) => signSync(witness.key, m) };
    signed.signatures.push(await cosign(nodeCrypto, signed.body, witness.name, signer, COSIGN_TIME(checkpoint.time), rawPublicKey(witness.key)));
  }
  return signed;
}

/** The honest batches, sealed (with a chain's edits): the sequencer's input. */
function sealBatches(options: Pick<ChainOptions, 'signerOf' | 'editEvent' | 'editSealed'> = {}): Sealed[] {
  return BATCHES.map(({ signer: defaultSigner, events }, b) => {
    const signer = options.signerOf?.(b) ?? defaultSigner;
    const sealed = seal(signer, events.map((e, i) => options.editEvent?.(b, i, e) ?? e));
    return options.editSealed?.(b, sealed) ?? sealed;
  });
}

/** Chains sealed batches as the sequencer does (one record each, lineage_prev from the index of latest positions), then signs checkpoints. */
async function buildChain(options: ChainOptions = {}): Promise<Chain> {
  let state = genesis(nodeCrypto, options.genesisLog ?? VECTOR_LOG);
  const latest = new Map<string, EventPosition>();
  const texts: string[] = [];
  const states: ChainState[] = [];
  const sealed = sealBatches(options);
  for (const batch of options.sequence?.(sealed) ?? sealed) {
    const seq = state.seq + 1;
    const prevs = batch.texts.map((text, i): EventPosition | null => {
      const lineage = lineageOf(text);
      if (lineage === undefined) return options.lineagePrev?.(seq, i, null) ?? null;
      const natural = latest.get(lineage) ?? null;
      latest.set(lineage, [seq, i]);
      return options.lineagePrev ? options.lineagePrev(seq, i, natural) : natural;
    });
    // The sequencer's encoder spells the record; core's chain hashes it, and both must agree.
    const linked = linkRecord(state, arrayText(batch.texts), batch.kid, prevs, batch.val);
    const next = chainNext(nodeCrypto, state, utf8Encode(linked.record.text));
    if (!bytesEqual(next.hash, linked.state.hash) || !bytesEqual(next.alt, linked.state.alt))
      throw new Error(`record ${seq}: the sequencer's chain hashes are not core's`);
    if (!bytesEqual(linked.record.leaf, tlogLeafHash(nodeCrypto, utf8Encode(linked.record.text))))
      throw new Error(`record ${seq}: the sequencer's leaf hash is not core's`);
    texts.push(linked.record.text);
    states.push(next);
    state = next;
  }
  // Parsed loosely: a record may be one strict parsing refuses. Those that canonicalize are core's recordBytes.
  const records = texts.map((text) => JSON.parse(text) as ChainRecord);
  records.forEach((record, i) => {
    let bytes: string | undefined;
    try {
      bytes = utf8Decode(recordBytes(record));
    } catch {
      return;
    }
    if (bytes !== texts[i]) throw new Error(`record ${i + 1}: linkRecord's text is not core's recordBytes`);
  });
  const leaves = texts.map((text) => tlogLeafHash(nodeCrypto, utf8Encode(text)));
  const indexValue = options.indexValue ?? ((_lineage: string, position: EventPosition) => valueOfPosition(position));
  const checkpoints = new Map<number, SignedCheckpoint>();
  const sizes = options.checkpointSizes ?? [3, 6, records.length];
  for (const size of sizes) {
    const last = states[size - 1]!;
    const checkpoint: LedgerCheckpoint = {
      log: VECTOR_LOG,
      size,
      root: treeRootOf(leaves, size),
      chain: { hash: last.hash, alt: last.alt },
      index: indexOf({ records, indexValue }, size).root(),
      time: CHECKPOINT_TIME(size),
    };
    const edited = options.editCheckpoint?.(checkpoint) ?? checkpoint;
    checkpoints.set(size, await signedCheckpoint(edited, options.cosigners?.(size) ?? WITNESSES, options.checkpointKey?.(size)));
  }
  return { texts, records, leaves, states, indexValue, checkpoints };
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

/** The anchor of a range starting after checkpoint `size`: its note and the compact range of the tree up to it. */
function anchorOf(chain: Chain, size: number): { checkpoint: string; tree: string[] } {
  const tree = compactRangeHashes(new LeafHashes(chain.leaves), size).map(base64Encode);
  return { checkpoint: noteOf(chain.checkpoints.get(size)!), tree };
}

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

/** Only the checkpoint at 3, which the honest and the rewritten histories share, is cosigned: witnesses never saw the rest. */
const sharedPrefixOnly = (size: number) => (size <= 3 ? WITNESSES : []);

/** The chain with the events at [batch, index] emitted without their lineage (signed and chained so). */
const withoutLineage = (...events: [number, number][]) =>
  buildChain({
    editEvent: (b, i, e) => {
      if (!events.some(([eb, ei]) => eb === b && ei === i)) return e;
      const { lineage: _lineage, ...rest } = e;
      return rest;
    },
  });

/** A lineage_prev override for one event: event `index` of record `seq` names `position`. */
const prevAt = (seq: number, index: number, position: EventPosition | null) => (s: number, i: number, natural: EventPosition | null) =>
  s === seq && i === index ? position : natural;

/** An index value whose padding (the 22 bytes after seq and index) is not zero. */
const paddedValue = (_lineage: string, latest: EventPosition) => {
  const value = valueOfPosition(latest);
  value[31] = 1;
  return value;
};

/** One more batch by the authority, of events spelled out, chained after the valid chain's. */
const chainWithExtra = (texts: string[]) => buildChain({ sequence: (b) => [...b, sealTexts(KEYS.authority, texts)] });

/**
 * Events of padding whose record, as record `seq` of the authority's key, is exactly `bytes`
 * long: five events (an event is at most 16,384 bytes), the last one's padding adjusted.
 */
function recordOfSize(bytes: number, seq: number): string[] {
  const pad = (n: number, ms: number) => canonicalize(extraEvent({ pad: 'x'.repeat(n) }, ms));
  const texts = [0, 1, 2, 3, 4].map((i) => pad(12_800, 5500 + i));
  const length = (events: string[]) =>
    utf8Encode(`{"events":${arrayText(events)},"kid":"${KEYS.authority.kid}","lineage_prev":[${events.map(() => 'null').join(',')}],"seq":${seq},"val":"${'A'.repeat(86)}"}`).length;
  texts[4] = pad(12_800 + bytes - length(texts), 5504);
  if (length(texts) !== bytes) throw new Error(`no record of ${bytes} bytes`);
  for (const text of texts) validateEvent(JSON.parse(text));
  return texts;
}

async function buildCases(valid: Chain): Promise<Map<string, Case>> {
  const lines = linesOf(valid);
  const n = valid.records.length;
  const recordLine = (seq: number) => lines.findIndex((l) => 'record' in l && l.seq === seq);
  const replaceRecord = (seq: number, edit: (r: ChainRecord) => unknown, from = lines): Line[] =>
    from.map((l) => ('record' in l && l.seq === seq ? { record: canonicalize(edit(JSON.parse(l.record) as ChainRecord)), seq } : l));
  const without = (...seqs: number[]) => lines.filter((l) => !('record' in l && seqs.includes(l.seq)));
  const withLine = (seq: number, raw: string) => lines.map((l) => ('record' in l && l.seq === seq ? { raw } : l));
  const withCheckpoint = (size: number, note: string) => lines.map((l) => ('checkpoint' in l && l.size === size ? { checkpoint: note, size } : l));
  const swapped = [...lines];
  [swapped[recordLine(4)], swapped[recordLine(5)]] = [swapped[recordLine(5)]!, swapped[recordLine(4)]!];
  const recordText = (seq: number) => valid.texts[seq - 1]!;
  const forgedEvents = arrayText(valid.records[3]!.events.map((e, i) => canonicalize(i === 0 ? { ...e, identity: 'spiffe://cluster.local/ns/attacker/sa/forged' } : e)));
  const last = valid.checkpoints.get(n)!;
  // A checkpoint validly signed (and cosigned) for 10 records of a chain of 8.
  const overClaim = await signedCheckpoint({ ...last.checkpoint, size: 10, time: CHECKPOINT_TIME(10) }, WITNESSES);
  const badSignature = { ...last, signatures: last.signatures.map((s, i) => (i === 0 ? { ...s, signature: flipBytes(s.signature) } : s)) };
  // Histories a sequencer holding the audit key could write: every hash recomputed, checkpoints re-signed.
  const omitted = await buildChain({ sequence: (b) => b.filter((_, i) => i !== 4), checkpointSizes: [3, 7], cosigners: sharedPrefixOnly });
  const swappedBatches = await buildChain({ sequence: (b) => [b[0]!, b[1]!, b[2]!, b[3]!, b[5]!, b[4]!, b[6]!, b[7]!], checkpointSizes: [3, 8], cosigners: sharedPrefixOnly });
  const lastDropped = await buildChain({ sequence: (b) => b.slice(0, 7), checkpointSizes: [3, 6, 7], cosigners: (size) => (size <= 6 ? WITNESSES : []) });
  const staleSwapped = linesOf(swappedBatches).map((l) => ('checkpoint' in l && l.size === n ? { checkpoint: noteOf(last), size: n } : l));
  const range = lines.slice(recordLine(7));
  const anchor6 = anchorOf(valid, 6);
  const byStranger = await buildChain({ checkpointKey: (size) => (size === 6 ? KEYS.stranger.key : KEYS.audit.key) });
  const extra = async (texts: string[]) => exportText(linesOf(await chainWithExtra(texts)), n + 1);
  const edited = async (edit: (c: LedgerCheckpoint) => LedgerCheckpoint) =>
    exportText(linesOf(await buildChain({ editCheckpoint: (c) => (c.size === 6 ? edit(c) : c) })), n);
  const chain = async (options: ChainOptions, to = n) => exportText(linesOf(await buildChain(options)), to);
  const authorityRotation = BATCHES[4]!.events[0]!;
  const cases: [string, Case][] = [
    ['valid', { desc: 'a valid chain of 8 records (one per batch, 18 events; record 6 holds two ledger.rejected events signed by the audit key) with checkpoints at 3, 6 and 8, each cosigned by both witnesses', wantErr: null, wantSeq: null, text: exportText(lines, n) }],
    ['valid-witnessed', { desc: 'the valid chain under a 2-of-2 witness policy', wantErr: null, wantSeq: null, file: 'valid.jsonl', witnesses: TWO_OF_TWO }],
    ['valid-trusted', { desc: 'the valid chain given its latest checkpoint (checkpoint.json) as trusted', wantErr: null, wantSeq: null, file: 'valid.jsonl', checkpoint: 'checkpoint.json' }],
    ['valid-trusted-earlier', { desc: 'the valid chain given its checkpoint at 6 as trusted', wantErr: null, wantSeq: null, file: 'valid.jsonl', checkpoint: 'checkpoint-6.json' }],
    // Records edited after chaining, nothing recomputed.
    ['edited-event', { desc: 'record 4 event 0 operation changed after chaining: its batch signature no longer verifies', wantErr: 'ledger.signature.invalid', wantSeq: 4, text: exportText(replaceRecord(4, (r) => ({ ...r, events: r.events.map((e, i) => (i === 0 ? { ...e, operation: 'model.train' } : e)) })), n) }],
    ['edited-lineage-prev', { desc: 'record 4 lineage_prev[0] changed from [2,2] to [1,0] after chaining (lineage_prev is the sequencer\'s, not signed)', wantErr: 'ledger.lineage.invalid', wantSeq: 4, text: exportText(replaceRecord(4, (r) => ({ ...r, lineage_prev: r.lineage_prev.map((p, i) => (i === 0 ? [1, 0] : p)) })), n) }],
    ['deleted-record', { desc: 'record 5 removed', wantErr: 'ledger.sequence.invalid', wantSeq: 5, text: exportText(without(5), n) }],
    ['reordered-records', { desc: 'records 4 and 5 swapped', wantErr: 'ledger.sequence.invalid', wantSeq: 4, text: exportText(swapped, n) }],
    ['truncated-tail', { desc: 'records 7 and 8 removed; the checkpoint at 8 kept', wantErr: 'ledger.head.mismatch', wantSeq: 7, text: exportText(without(7, 8), n) }],
    ['checkpoint-claims-more', { desc: 'a validly signed and cosigned checkpoint claims 10 records of a chain of 8', wantErr: 'ledger.head.mismatch', wantSeq: 9, text: exportText([...lines, { checkpoint: noteOf(overClaim), size: 10 }], 10) }],
    ['record-extra-member', { desc: 'record 2 carries a member no hash or signature covers', wantErr: 'ledger.event.invalid', wantSeq: 2, text: exportText(replaceRecord(2, (r) => ({ ...r, note: 'x' })), n) }],
    ['record-missing-member', { desc: 'record 2 without its lineage_prev member', wantErr: 'ledger.event.invalid', wantSeq: 2, text: exportText(replaceRecord(2, ({ lineage_prev: _p, ...r }) => r), n) }],
    // Signatures.
    ['bad-producer-signature', { desc: 'record 3 chained with a corrupted batch signature (hashes and checkpoints recomputed over it)', wantErr: 'ledger.signature.invalid', wantSeq: 3, text: await chain({ editSealed: (b, s) => (b === 2 ? { ...s, val: flipSignature(s.val) } : s) }) }],
    ['dropped-event', { desc: 'event 0 of batch 2 left out of record 2 by a sequencer holding the audit key (hashes and checkpoints recomputed): the batch signature covers every event', wantErr: 'ledger.signature.invalid', wantSeq: 2, text: await chain({ editSealed: (b, s) => (b === 1 ? { ...s, texts: s.texts.slice(1) } : s) }) }],
    ['unknown-producer-kid', { desc: 'batch 8 (record 8) signed by a key that is not a certified producer, under a certified kid', wantErr: 'ledger.signature.invalid', wantSeq: 8, text: await chain({ signerOf: (b) => (b === 7 ? { ...KEYS.stranger, kid: KEYS.authz.kid } : undefined) }) }],
    ['producer-not-key-subject', { desc: 'batch 1 (producer authority://prod) signed by the key certified for authz-server://pod-7f9c, under its kid', wantErr: 'ledger.signature.invalid', wantSeq: 1, text: await chain({ signerOf: (b) => (b === 0 ? KEYS.authz : undefined) }) }],
    ['event-outside-key-validity', { desc: 'event 0 of record 2 timed after its producer key expired (2026-05-12T23:59:59Z), validly signed', wantErr: 'ledger.signature.invalid', wantSeq: 2, text: await chain({ editEvent: (b, i, e) => (b === 1 && i === 0 ? { ...e, time: '2026-05-13T00:00:00.000Z' } : e) }) }],
    ['rejected-mixed', { desc: 'record 6: the two ledger.rejected events and a key.rotated event of authority://prod in one batch, validly signed by the audit key: ledger.rejected events are signed only with each other', wantErr: 'ledger.signature.invalid', wantSeq: 6, text: await chain({ editSealed: (b, s) => (b === 5 ? seal(KEYS.audit, [...BATCHES[5]!.events, authorityRotation]) : s) }) }],
    ['rejected-by-producer-key', { desc: 'record 6: the ledger.rejected batch validly signed by a producer key, under its kid', wantErr: 'ledger.signature.invalid', wantSeq: 6, text: await chain({ editSealed: (b, s) => (b === 5 ? seal(KEYS.authority, BATCHES[5]!.events) : s) }) }],
    ['bad-checkpoint-signature', { desc: 'the checkpoint at 8 with a corrupted log signature', wantErr: 'ledger.signature.invalid', wantSeq: 8, text: exportText(withCheckpoint(n, noteOf(badSignature)), n) }],
    ['checkpoint-outside-audit-key-validity', { desc: 'the checkpoint at 8 signed at 2026-05-13T00:00:00.000Z, after its audit key expired (2026-05-12T23:59:59Z)', wantErr: 'ledger.signature.invalid', wantSeq: 8, text: await chain({ editCheckpoint: (c) => (c.size === n ? { ...c, time: '2026-05-13T00:00:00.000Z' } : c) }) }],
    ['malformed-checkpoint', { desc: 'the checkpoint line at 6 holds text that is not a checkpoint note', wantErr: 'ledger.head.mismatch', wantSeq: 6, text: exportText(withCheckpoint(6, 'governance-vectors\n6\n'), n) }],
    // Replays.
    ['replayed-batch', { desc: 'batch 1 chained again, same val, as record 9 by a sequencer holding the audit key (hashes and checkpoints recomputed)', wantErr: 'ledger.batch.replayed', wantSeq: 9, text: await chain({ sequence: (b) => [...b, b[0]!] }, n + 1) }],
    // lineage_prev (§6): chains recomputed and re-signed over the wrong links.
    ['broken-lineage-prev', { desc: 'record 4 event 0 (execution.started) links to [1,0] instead of [2,2], the latest event of its lineage', wantErr: 'ledger.lineage.invalid', wantSeq: 4, text: await chain({ lineagePrev: prevAt(4, 0, [1, 0]) }) }],
    ['lineage-prev-skips-in-record', { desc: 'record 4 event 3 (attestation.signed) links to [2,2], skipping event 0 of the same record and lineage', wantErr: 'ledger.lineage.invalid', wantSeq: 4, text: await chain({ lineagePrev: prevAt(4, 3, [2, 2]) }) }],
    ['lineage-prev-other-lineage', { desc: 'record 4 event 1 (of the second operation) links to [4,0], an earlier event of the same record in another lineage', wantErr: 'ledger.lineage.invalid', wantSeq: 4, text: await chain({ lineagePrev: prevAt(4, 1, [4, 0]) }) }],
    ['lineage-prev-null-not-first', { desc: 'record 2 event 2 (admission.granted) has lineage_prev null though [2,1] is of its lineage', wantErr: 'ledger.lineage.invalid', wantSeq: 2, text: await chain({ lineagePrev: prevAt(2, 2, null) }) }],
    ['lineage-prev-forward-in-record', { desc: 'record 2 event 1 links to [2,2], a later event of its own record', wantErr: 'ledger.event.invalid', wantSeq: 2, text: await chain({ lineagePrev: prevAt(2, 1, [2, 2]) }) }],
    ['lineage-prev-forward-record', { desc: 'record 2 event 1 links to [3,0], a position in a later record', wantErr: 'ledger.event.invalid', wantSeq: 2, text: await chain({ lineagePrev: prevAt(2, 1, [3, 0]) }) }],
    ['lineage-prev-without-lineage', { desc: 'record 2 event 0, which has no lineage, links to [1,0]', wantErr: 'ledger.event.invalid', wantSeq: 2, text: await chain({ lineagePrev: prevAt(2, 0, [1, 0]) }) }],
    ['lineage-prev-short', { desc: 'record 2 with two lineage_prev entries for its three events (hashes and checkpoints recomputed)', wantErr: 'ledger.event.invalid', wantSeq: 2, text: exportText(linesOf(await buildChainOfTexts(valid, 2, (r) => ({ ...r, lineage_prev: r.lineage_prev.slice(0, 2) }))), n) }],
    ['lineage-out-of-order', { desc: 'authorization.consumed (record 2 event 1) emitted without the lineage: admission.granted (record 2 event 2) follows no consumption of its own (validly signed, chained and checkpointed)', wantErr: 'ledger.lineage.order', wantSeq: 2, text: exportText(linesOf(await withoutLineage([1, 1])), n) }],
    // Lines that are not canonical.
    ['not-json-line', { desc: 'record 3 replaced by a line that is not JSON', wantErr: 'encoding.invalid', wantSeq: 3, text: exportText(withLine(3, '{"events":'), n) }],
    ['duplicate-event-member', { desc: 'record 4 with a forged "events" member before the genuine one: a parser keeping the last member sees a valid record, one keeping the first sees the forgery', wantErr: 'encoding.invalid', wantSeq: 4, text: exportText(withLine(4, `{"events":${forgedEvents},${recordText(4).slice(1)}`), n) }],
    ['noncanonical-whitespace', { desc: 'record 5 with a space after a colon: the same JSON value, not its canonical bytes', wantErr: 'encoding.invalid', wantSeq: 5, text: exportText(withLine(5, recordText(5).replace(',"seq":5,', ',"seq": 5,')), n) }],
    // Limits: data depth, numbers, record size (records 9, validly signed, chained and checkpointed).
    ['data-depth-at-limit', { desc: 'record 9 whose event data nests 28 arrays: the innermost is at depth 31 of the record, the deepest allowed', wantErr: null, wantSeq: null, text: await extra([DEPTH_AT_LIMIT]) }],
    ['data-depth-past-limit', { desc: 'record 9 whose event data nests 29 arrays (depth 32 of the record)', wantErr: 'encoding.invalid', wantSeq: 9, text: await extra([DEPTH_PAST_LIMIT]) }],
    ['data-fraction', { desc: 'record 9 whose event data holds the number 1.5 (canonical JSON, not an integer)', wantErr: 'ledger.event.invalid', wantSeq: 9, text: await extra([canonicalize(extraEvent({ ratio: 1.5 }))]) }],
    ['data-unsafe-integer', { desc: 'record 9 whose event data holds 9007199254740992 (2^53, canonical JSON, not a safe integer)', wantErr: 'ledger.event.invalid', wantSeq: 9, text: await extra([canonicalize(extraEvent({ count: 2 ** 53 }))]) }],
    ['record-size-at-limit', { desc: 'record 9 of five events, exactly 65,535 bytes: the largest record (an entry of a C2SP entry bundle has a uint16 length)', wantErr: null, wantSeq: null, text: await extra(recordOfSize(65_535, n + 1)) }],
    ['record-size-past-limit', { desc: 'record 9 of five valid events, 65,536 bytes', wantErr: 'ledger.event.invalid', wantSeq: 9, text: await extra(recordOfSize(65_536, n + 1)) }],
    // Checkpoint lines that are not those of the records, re-signed and cosigned.
    ['wrong-root-line', { desc: 'the checkpoint at 6 signs a root that is not the tree of records 1..6', wantErr: 'ledger.root.mismatch', wantSeq: 6, text: await edited((c) => ({ ...c, root: flipBytes(c.root) })) }],
    ['wrong-chain-line', { desc: 'the checkpoint at 6 names the chain hashes of record 5', wantErr: 'ledger.hash.mismatch', wantSeq: 6, text: await edited((c) => ({ ...c, chain: { hash: valid.states[4]!.hash, alt: valid.states[4]!.alt } })) }],
    ['wrong-alt-hash-only', { desc: 'the checkpoint at 6 with the BLAKE2b-512 hash of its chain line changed, the SHA3-512 hash intact', wantErr: 'ledger.hash.mismatch', wantSeq: 6, text: await edited((c) => ({ ...c, chain: { hash: c.chain.hash, alt: flipBytes(c.chain.alt) } })) }],
    ['wrong-genesis-log', { desc: 'a chain hashed from the genesis of another log, under checkpoints signed for this one: the records and the tree are the same, the chain line at 3 is not', wantErr: 'ledger.hash.mismatch', wantSeq: 3, text: await chain({ genesisLog: 'governance-other' }) }],
    ['wrong-index-line', { desc: 'the checkpoint at 6 commits to a lineage index root that is not that of records 1..6 (witnesses do not check the index)', wantErr: 'ledger.index.mismatch', wantSeq: 6, text: await edited((c) => ({ ...c, index: flipBytes(c.index) })) }],
    ['index-value-padding', { desc: 'every checkpoint commits to an index whose values have a padding byte set (the last of the 22 after seq and index)', wantErr: 'ledger.index.mismatch', wantSeq: 3, text: await chain({ indexValue: paddedValue }) }],
    ['unwitnessed-checkpoint', { desc: 'the checkpoint at 6 cosigned by one witness only, under a 2-of-2 policy', wantErr: 'ledger.witness.insufficient', wantSeq: 6, witnesses: TWO_OF_TWO, text: await chain({ cosigners: (size) => (size === 6 ? WITNESSES.slice(0, 1) : WITNESSES) }) }],
    // Rewritten histories: alone they verify; a trusted checkpoint or witnesses expose them.
    ['batch-omitted', { desc: 'batch 5 (record 5) left out by a sequencer holding the audit key, every hash recomputed and checkpoints re-signed at 3 and 7: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(omitted), 7) }],
    ['batch-omitted-trusted', { desc: 'the same history given the honest checkpoint at 6 (checkpoint-6.json) as trusted: its records 1..6 are not the ones the checkpoint signed', wantErr: 'ledger.checkpoint.inconsistent', wantSeq: 6, file: 'batch-omitted.jsonl', checkpoint: 'checkpoint-6.json' }],
    ['batch-omitted-witnessed', { desc: 'the same history under a 2-of-2 witness policy: no witness cosigned its re-signed checkpoint at 7', wantErr: 'ledger.witness.insufficient', wantSeq: 7, file: 'batch-omitted.jsonl', witnesses: TWO_OF_TWO }],
    ['batches-swapped', { desc: 'batches 5 and 6 chained in each other\'s place, every hash recomputed and the checkpoint at 8 re-signed: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(swappedBatches), n) }],
    ['batches-swapped-trusted', { desc: 'the same history given the honest checkpoint at 8 (checkpoint.json) as trusted: same records, another tree', wantErr: 'ledger.checkpoint.inconsistent', wantSeq: 8, file: 'batches-swapped.jsonl', checkpoint: 'checkpoint.json' }],
    ['batches-swapped-stale-checkpoint', { desc: 'batches 5 and 6 swapped, hashes recomputed, but the honest checkpoint at 8 left in place', wantErr: 'ledger.root.mismatch', wantSeq: 8, text: exportText(staleSwapped, n) }],
    ['last-batch-dropped', { desc: 'the last batch (record 8) dropped and a checkpoint at 7 signed by a sequencer holding the audit key: alone, it verifies', wantErr: null, wantSeq: null, text: exportText(linesOf(lastDropped), 7) }],
    ['last-batch-dropped-trusted', { desc: 'the same history given the checkpoint at 8 (checkpoint.json) as trusted: it ends before it', wantErr: 'ledger.chain.truncated', wantSeq: 8, file: 'last-batch-dropped.jsonl', checkpoint: 'checkpoint.json' }],
    ['cut-at-earlier-checkpoint', { desc: 'records 7 and 8 and the checkpoint at 8 cut off, the header saying to 6: without a trusted checkpoint, the chain up to its checkpoint at 6 verifies', wantErr: null, wantSeq: null, text: exportText(lines.slice(0, recordLine(7)), 6) }],
    ['cut-at-earlier-checkpoint-trusted', { desc: 'the same file given the checkpoint at 8 (checkpoint.json) as trusted: the chain ends before it', wantErr: 'ledger.chain.truncated', wantSeq: 7, file: 'cut-at-earlier-checkpoint.jsonl', checkpoint: 'checkpoint.json' }],
    // Range exports, anchored at a checkpoint.
    ['range', { desc: 'records 7 and 8 and the checkpoint at 8, anchored at the checkpoint at 6 (its note and the compact range of the tree of records 1..6: two hashes)', wantErr: null, wantSeq: null, allowRange: true, text: exportText(range, n, 7, anchor6) }],
    ['range-trusted-at-anchor', { desc: 'the same range given the checkpoint at 6 as trusted: it is the anchor', wantErr: null, wantSeq: null, allowRange: true, file: 'range.jsonl', checkpoint: 'checkpoint-6.json' }],
    ['range-not-allowed', { desc: 'the same range when the whole chain is required', wantErr: 'ledger.sequence.invalid', wantSeq: 1, file: 'range.jsonl' }],
    ['range-wrong-anchor-tree', { desc: 'the range with the first hash of its anchor\'s compact range changed: it does not give the anchor checkpoint\'s root', wantErr: 'ledger.root.mismatch', wantSeq: null, allowRange: true, text: exportText(range, n, 7, { ...anchor6, tree: [flipBase64(anchor6.tree[0]!), anchor6.tree[1]!] }) }],
    ['range-anchor-untrusted-key', { desc: 'the range anchored at a checkpoint at 6 of the same records signed under the log\'s name by a key that is not a trusted audit key', wantErr: 'ledger.signature.invalid', wantSeq: null, allowRange: true, text: exportText(range, n, 7, anchorOf(byStranger, 6)) }],
    ['range-anchor-wrong-size', { desc: 'the range from 7 anchored at the checkpoint at 3 (with its compact range)', wantErr: 'ledger.event.invalid', wantSeq: null, allowRange: true, text: exportText(range, n, 7, anchorOf(valid, 3)) }],
    ['range-edited-lineage-prev', { desc: 'the range with record 7 lineage_prev[0] changed from null to [3,0] after chaining: a range cannot check links to before it, the tree at 8 can', wantErr: 'ledger.root.mismatch', wantSeq: 8, allowRange: true, text: exportText(replaceRecord(7, (r) => ({ ...r, lineage_prev: r.lineage_prev.map((p, i) => (i === 0 ? [3, 0] : p)) }), range), n, 7, anchor6) }],
  ];
  return new Map(cases);
}

/** The valid chain with record `seq`'s text edited before it is chained: later hashes and checkpoints follow it. */
async function buildChainOfTexts(valid: Chain, seq: number, edit: (r: ChainRecord) => unknown): Promise<Chain> {
  let state = genesis(nodeCrypto, VECTOR_LOG);
  const texts = valid.texts.map((text, i) => (i === seq - 1 ? canonicalize(edit(JSON.parse(text) as ChainRecord)) : text));
  const states = texts.map((text) => (state = chainNext(nodeCrypto, state, utf8Encode(text))));
  const records = texts.map((text) => JSON.parse(text) as ChainRecord);
  const leaves = texts.map((text) => tlogLeafHash(nodeCrypto, utf8Encode(text)));
  const checkpoints = new Map<number, SignedCheckpoint>();
  for (const size of valid.checkpoints.keys()) {
    const checkpoint: LedgerCheckpoint = {
      log: VECTOR_LOG,
      size,
      root: treeRootOf(leaves, size),
      chain: { hash: states[size - 1]!.hash, alt: states[size - 1]!.alt },
      index: indexOf({ records, indexValue: valid.indexValue }, size).root(),
      time: CHECKPOINT_TIME(size),
    };
    checkpoints.set(size, await signedCheckpoint(checkpoint, WITNESSES));
  }
  return { texts, records, leaves, states, indexValue: valid.indexValue, checkpoints };
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

/** What the proof endpoint serves for a lineage: its index proof and every record holding an event of it, each with its inclusion proof. */
function lineageProofOf(chain: Chain, lineage: string, size: number): LineageProof {
  const proof = indexOf(chain, size).prove(indexKey(nodeCrypto, lineage));
  const seqs = chain.records.slice(0, size).filter((r) => r.events.some((e) => e.lineage === lineage)).map((r) => r.seq);
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

async function buildInclusionCases(valid: Chain): Promise<Map<string, ProofCase<InclusionProof>>> {
  const first = inclusionOf(valid, 1, 8);
  const mixed = await buildChain({ editSealed: (b, s) => (b === 5 ? seal(KEYS.audit, [...BATCHES[5]!.events, BATCHES[4]!.events[0]!]) : s) });
  const large = await chainWithExtra(recordOfSize(65_536, 9));
  const record4 = JSON.parse(valid.texts[3]!) as ChainRecord;
  return new Map([
    ['inclusion-first', { desc: 'record 1 in the checkpoint at 8 (3 hashes)', proof: first, wantErr: null }],
    ['inclusion-last', { desc: 'record 8, the last, in the checkpoint at 8', proof: inclusionOf(valid, 8, 8), wantErr: null }],
    ['inclusion-earlier-checkpoint', { desc: 'record 5 in the checkpoint at 6', proof: inclusionOf(valid, 5, 6), wantErr: null }],
    ['inclusion-batch', { desc: 'record 4, one batch of six events of two lineages, in the checkpoint at 8', proof: inclusionOf(valid, 4, 8), wantErr: null }],
    ['inclusion-rejected-batch', { desc: 'record 6, two ledger.rejected events signed by the audit key, in the checkpoint at 8', proof: inclusionOf(valid, 6, 8), wantErr: null }],
    ['inclusion-flipped-hash', { desc: 'record 1 with the first hash of its proof changed', proof: { ...first, proof: flipFirst(first.proof) }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-short-proof', { desc: 'record 1 with the last hash of its proof left out', proof: { ...first, proof: first.proof.slice(0, -1) }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-other-record', { desc: 'record 2 given the proof of record 1', proof: { ...first, record: valid.texts[1]! }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-beyond-checkpoint', { desc: 'record 7 against the checkpoint at 6', proof: { ...inclusionOf(valid, 5, 6), record: valid.texts[6]! }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-edited-record', { desc: 'record 4 with an event edited: its batch signature no longer verifies', proof: { ...inclusionOf(valid, 4, 8), record: valid.texts[3]!.replace('"operation":"model.invoke"', '"operation":"model.train"') }, wantErr: 'ledger.signature.invalid' }],
    ['inclusion-edited-lineage-prev', { desc: 'record 4 with lineage_prev[0] changed from [2,2] to [1,0]: not signed, but its leaf is not in the tree', proof: { ...inclusionOf(valid, 4, 8), record: canonicalize({ ...record4, lineage_prev: record4.lineage_prev.map((p, i) => (i === 0 ? [1, 0] : p)) }) }, wantErr: 'ledger.proof.invalid' }],
    ['inclusion-rejected-mixed', { desc: 'record 6 of a chain whose ledger.rejected batch also holds a key.rotated event, signed by the audit key, in its checkpoint at 8', proof: inclusionOf(mixed, 6, 8), wantErr: 'ledger.signature.invalid' }],
    ['inclusion-record-too-large', { desc: 'record 9 of 65,536 bytes in the checkpoint at 9 of a chain holding it', proof: inclusionOf(large, 9, 9), wantErr: 'ledger.event.invalid' }],
    ['inclusion-bad-checkpoint-signature', { desc: 'record 1 against the checkpoint at 8 with a corrupted log signature', proof: { ...first, checkpoint: noteOf({ ...valid.checkpoints.get(8)!, signatures: valid.checkpoints.get(8)!.signatures.map((s, i) => (i === 0 ? { ...s, signature: flipBytes(s.signature) } : s)) }) }, wantErr: 'ledger.signature.invalid' }],
  ]);
}

function buildConsistencyCases(valid: Chain, swapped: Chain): Map<string, ProofCase<ConsistencyProof>> {
  const note = (size: number) => noteOf(valid.checkpoints.get(size)!);
  const sixToEight = consistencyOf(valid, 6, 8);
  return new Map([
    ['consistency-3-8', { desc: 'the checkpoint at 8 extends the one at 3', trusted: note(3), proof: consistencyOf(valid, 3, 8), wantErr: null }],
    ['consistency-6-8', { desc: 'the checkpoint at 8 extends the one at 6', trusted: note(6), proof: sixToEight, wantErr: null }],
    ['consistency-same', { desc: 'the checkpoint at 8 against itself: an empty proof', trusted: note(8), proof: consistencyOf(valid, 8, 8), wantErr: null }],
    ['consistency-flipped-hash', { desc: 'from 6 to 8 with the first hash of the proof changed', trusted: note(6), proof: { ...sixToEight, proof: flipFirst(sixToEight.proof) }, wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-rollback', { desc: 'the checkpoint at 6 offered to a verifier that holds the one at 8: a rolled-back log', trusted: note(8), proof: { old: 8, checkpoint: note(6), proof: [] }, wantErr: 'ledger.checkpoint.rollback' }],
    ['consistency-fork', { desc: 'a checkpoint at 8 signed by the audit key over a history with batches 5 and 6 swapped, offered with its own proof from 6 to a verifier that holds the honest one at 6', trusted: note(6), proof: consistencyOf(swapped, 6, 8), wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-fork-same-size', { desc: 'that forked checkpoint at 8 offered to a verifier that holds the honest one at 8', trusted: note(8), proof: consistencyOf(swapped, 8, 8), wantErr: 'ledger.checkpoint.inconsistent' }],
    ['consistency-wrong-old', { desc: 'a proof from 3 offered to a verifier that holds the checkpoint at 6', trusted: note(6), proof: consistencyOf(valid, 3, 8), wantErr: 'ledger.proof.invalid' }],
  ]);
}

async function buildLineageCases(valid: Chain): Promise<Map<string, ProofCase<LineageProof>>> {
  const full = lineageProofOf(valid, LINEAGE, 8);
  const lineageIn = async (options: ChainOptions, lineage = LINEAGE, size = 8) => lineageProofOf(await buildChain(options), lineage, size);
  const attestationOfAnother = await buildChain({
    editEvent: (b, i, e) => (b === 3 && i === 3 ? { ...e, data: { attestation: { attestation_id: OTHER_ATTESTATION_ID, result_digest: 'sha3-512:' + '0'.repeat(128) } } } : e),
  });
  const cases: [string, ProofCase<LineageProof>][] = [
    ['lineage-seven-stages', { desc: 'the seven stages in order in the checkpoint at 8: events [1,0], [2,1], [2,2], [4,0], [4,3], [4,4], [4,5] of records 1, 2 and 4', proof: full, wantErr: null }],
    ['lineage-at-earlier-checkpoint', { desc: 'the same lineage in the checkpoint at 3: issued, consumed, granted (records 1 and 2), linked within record 2', proof: lineageProofOf(valid, LINEAGE, 3), wantErr: null }],
    ['lineage-admitted-only', { desc: 'the second operation: issued (record 3), consumed and granted (record 4 events 1 and 2, between events of the first operation), never run: in order, stopped early', proof: lineageProofOf(valid, LINEAGE_2, 8), wantErr: null }],
    ['lineage-issued-only', { desc: 'the third operation: issued (record 7), nothing since, in order', proof: lineageProofOf(valid, LINEAGE_3, 8), wantErr: null }],
    ['lineage-absent', { desc: 'an operation with no event up to 8: a non-membership proof of the index, no records', proof: lineageProofOf(valid, ABSENT_LINEAGE, 8), wantErr: null }],
    ['lineage-absent-before-issued', { desc: 'the third operation in the checkpoint at 6, before it was issued: absent', proof: lineageProofOf(valid, LINEAGE_3, 6), wantErr: null }],
    ['exclusion-of-present', { desc: 'an exclusion for the first operation, which is present: its index proof with an empty terminal, no records', proof: { ...full, index: { siblings: full.index.siblings, terminal: { kind: 'empty' } }, records: [] }, wantErr: 'ledger.proof.invalid' }],
    ['exclusion-with-other-path', { desc: 'an exclusion for the first operation with the non-membership proof of an absent one', proof: { ...lineageProofOf(valid, ABSENT_LINEAGE, 8), lineage: LINEAGE }, wantErr: 'ledger.proof.invalid' }],
    ['lineage-record-left-out', { desc: 'the seven stages with record 2 left out: record 4 event 0 links to [2,2], which the proof lacks', proof: { ...full, records: full.records.filter((_, i) => i !== 1) }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-stops-early', { desc: 'the seven stages without their last record: the index names [4,5] as the latest event', proof: { ...full, records: full.records.slice(0, -1) }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-extra-record', { desc: 'the seven stages with record 3, which holds no event of the lineage, added', proof: { ...full, records: [full.records[0]!, full.records[1]!, recordProof(valid, 3, 8), full.records[2]!] }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-records-out-of-order', { desc: 'the seven stages with records 2 and 4 listed in each other\'s place', proof: { ...full, records: [full.records[0]!, full.records[2]!, full.records[1]!] }, wantErr: 'ledger.lineage.invalid' }],
    ['lineage-flipped-index-sibling', { desc: 'the seven stages with a sibling of the index proof changed', proof: { ...full, index: { ...full.index, siblings: flipFirst(full.index.siblings) } }, wantErr: 'ledger.proof.invalid' }],
    ['lineage-index-value-padding', { desc: 'the seven stages in a chain whose checkpoints commit to index values with a padding byte set: the value is no position', proof: await lineageIn({ indexValue: paddedValue }), wantErr: 'ledger.proof.invalid' }],
    ['lineage-index-not-latest', { desc: 'the seven stages in a chain whose index names [4,4] for the lineage: not its latest event, the last of record 4', proof: await lineageIn({ indexValue: (lineage, p) => valueOfPosition(lineage === LINEAGE && p[0] === 4 && p[1] === 5 ? [4, 4] : p) }), wantErr: 'ledger.lineage.invalid' }],
    ['lineage-prev-skips-in-record', { desc: 'the seven stages in a chain where record 4 event 3 links to [2,2], skipping event 0 of its record and lineage', proof: await lineageIn({ lineagePrev: prevAt(4, 3, [2, 2]) }), wantErr: 'ledger.lineage.invalid' }],
    ['lineage-prev-wrong-position', { desc: 'the seven stages in a chain where record 2 event 1 links to [1,1], an event without the lineage', proof: await lineageIn({ lineagePrev: prevAt(2, 1, [1, 1]) }), wantErr: 'ledger.lineage.invalid' }],
    ['lineage-prev-forward', { desc: 'the seven stages in a chain where record 2 event 1 links to [3,0], a later record: record 2 is malformed', proof: await lineageIn({ lineagePrev: prevAt(2, 1, [3, 0]) }), wantErr: 'ledger.event.invalid' }],
    ['lineage-started-without-admission', { desc: 'issued, then the four execution stages (records 1 and 4): no authorization.consumed or admission.granted before execution.started', proof: lineageProofOf(await withoutLineage([1, 1], [1, 2]), LINEAGE, 8), wantErr: 'ledger.lineage.order' }],
    ['lineage-granted-without-consumed', { desc: 'admission.granted (record 2 event 2) with no authorization.consumed before it', proof: lineageProofOf(await withoutLineage([1, 1]), LINEAGE, 8), wantErr: 'ledger.lineage.order' }],
    ['lineage-attestation-of-another-admission', { desc: 'attestation.signed (record 4 event 3) names the attestation id of the second operation\'s admission, not its own\'s', proof: lineageProofOf(attestationOfAnother, LINEAGE, 8), wantErr: 'ledger.lineage.order' }],
    ['lineage-issued-not-first', { desc: 'the lineage starts with authorization.consumed (record 2 event 1): authorization.issued is not first', proof: lineageProofOf(await withoutLineage([0, 0]), LINEAGE, 8), wantErr: 'ledger.lineage.order' }],
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

/** The event of the redaction cases: record 2's event 0 (execution.denied) with data, identity, request_id and data committed. */
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

/**
 * The values docs/spec/ledger.md shows: the first batch sealed (§4), records 1 to 3 with their
 * chain hashes (§5), their leaves, the lineage index at 3 (§7.5), the checkpoint at 3, and the
 * parts of proofs against it: the inclusion proofs of records 1 and 2 (§10.2) and the index proof
 * of the first lineage (§10.4), whose lineage proof is lineage-at-earlier-checkpoint of
 * lineage-cases.json; the key record (§8.1) and a redacted event (§3.1).
 */
function example(valid: Chain): Record<string, string> {
  const first = BATCHES[0]!;
  const events = eventsBytes(first.events.map((e) => validateEvent(e)));
  const start = genesis(nodeCrypto, VECTOR_LOG);
  const text = (bytes: Uint8Array) => utf8Decode(bytes)!;
  const checkpoint = valid.checkpoints.get(3)!;
  const { cert: _cert, ...keyBody } = KEY_RECORDS[0]!;
  const hex = (seq: number) => ({ hash: hexEncode(valid.states[seq - 1]!.hash), alt: hexEncode(valid.states[seq - 1]!.alt) });
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  return {
    log: VECTOR_LOG,
    genesis_seed: `governance-ledger:v2:genesis:${VECTOR_LOG}`,
    genesis_sha3: hexEncode(start.hash),
    genesis_blake2b: hexEncode(start.alt),
    batch_1_events: text(events),
    batch_1_digest: hexEncode(nodeCrypto.sha256(events)),
    batch_1_statement: text(batchStatement(nodeCrypto, VECTOR_LOG, first.signer.kid, first.events.length, events)),
    producer_public_key: base64urlEncode(rawPublicKey(first.signer.key)),
    batch_1_signature: valid.records[0]!.val,
    record_1: valid.texts[0]!,
    chain_sha3_1: hex(1).hash,
    chain_blake2b_1: hex(1).alt,
    record_2: valid.texts[1]!,
    chain_sha3_2: hex(2).hash,
    chain_blake2b_2: hex(2).alt,
    record_3: valid.texts[2]!,
    chain_sha3_3: hex(3).hash,
    chain_blake2b_3: hex(3).alt,
    tree_leaf_1: hexEncode(valid.leaves[0]!),
    tree_leaf_2: hexEncode(valid.leaves[1]!),
    tree_leaf_3: hexEncode(valid.leaves[2]!),
    index_key_1: hexEncode(indexKey(nodeCrypto, LINEAGE)),
    index_value_1: hexEncode(valueOfPosition([2, 2])),
    index_key_2: hexEncode(indexKey(nodeCrypto, LINEAGE_2)),
    index_value_2: hexEncode(valueOfPosition([3, 0])),
    index_root: hexEncode(indexOf(valid, 3).root()),
    checkpoint_body: checkpointBody(checkpoint.checkpoint),
    checkpoint: noteOf(checkpoint),
    inclusion_proof_1: json(recordProof(valid, 1, 3).proof),
    inclusion_proof_2: json(recordProof(valid, 2, 3).proof),
    index_proof_1: json(lineageProofOf(valid, LINEAGE, 3).index),
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
  const swapped = await buildChain({ sequence: (b) => [b[0]!, b[1]!, b[2]!, b[3]!, b[5]!, b[4]!, b[6]!, b[7]!], checkpointSizes: [3, 6, 8], cosigners: sharedPrefixOnly });
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
  files.set('checkpoint.json', json({ checkpoint: noteOf(valid.checkpoints.get(8)!) }));
  files.set('checkpoint-6.json', json({ checkpoint: noteOf(valid.checkpoints.get(6)!) }));
  const entry = (name: string, { desc, file, checkpoint, witnesses, allowRange, wantErr, wantSeq }: Case) => [
    name,
    { desc, file: file ?? `${name}.jsonl`, ...(checkpoint ? { checkpoint } : {}), ...(witnesses ? { witnesses } : {}), ...(allowRange ? { allowRange } : {}), wantErr, wantSeq },
  ];
  files.set('cases.json', json(Object.fromEntries([...cases].map(([name, c]) => entry(name, c)))));
  for (const [name, c] of cases) if (c.text !== undefined) files.set(`${name}.jsonl`, c.text);
  const proofCases = (cases: Map<string, ProofCase<unknown>>) => json(Object.fromEntries(cases));
  files.set('inclusion-cases.json', proofCases(await buildInclusionCases(valid)));
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
