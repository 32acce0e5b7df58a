// Generates the ledger test vectors (test/vectors/ledger/) from fixed seeds and fixed times, with
// the generic constructions of core/event.ts (signEventBatch, chainRecord, signHead): a small
// valid chain as an export file, its keys (key records certified by a root) and latest head, and
// named variants, each with the failure a verifier must report first ({desc, wantErr, wantSeq} in
// cases.json); lineage proofs of its operation and of variants (lineage-cases.json). Records no
// writer would accept are spelled with the sequencer's own encoder (ledger/records.ts
// linkRecord). Also example.json, the annotated example of docs/spec/ledger.md.
// `npx tsx test/vectors/generate-ledger.ts` rewrites the folder; test/ledger/vectors.test.ts
// checks that regenerating gives no diff.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestationRef } from '../../core/attestation.js';
import { canonicalize, type JsonValue } from '../../core/canonical.js';
import type { CryptoSuite } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlDecode, base64urlEncode, hexEncode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import { batchStatement, chainRecord, chainStateOf, genesis, headStatement, recordBytes, signEventBatch, signHead, validateEvent, type ChainRecord, type LedgerEvent, type SignedEvent, type SignedHead } from '../../core/event.js';
import { leafHash, merkleTree } from '../../core/merkle.js';
import { privateKeyFromSeed, rawPublicKey, signSync } from '../../core/keys.js';
import { certifyKey, keyRecordStatement, verifyKeyRecord, type KeyRecord, type KeyRole } from '../../core/registry.js';
import { EXPORT_FORMAT } from '../../ledger/export.js';
import { StoreLedgerReader, type ChainSource } from '../../ledger/reader.js';
import { batchSignatureText, linkRecord } from '../../ledger/records.js';
import { ledgerKeysOf, type LedgerKeys } from '../../core/chain.js';
import type { LineageProof } from '../../ledger/types.js';

export const LEDGER_VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ledger');

/** keys.json as a verifier takes it: each key record verified under the root it pins. */
export function readLedgerVectorKeys(suite: CryptoSuite = nodeCrypto): LedgerKeys {
  const raw = JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'keys.json'), 'utf8')) as {
    root: { kid: string; public_key: string };
    key_records: KeyRecord[];
  };
  const roots = new Map([[raw.root.kid, base64urlDecode(raw.root.public_key)!]]);
  return ledgerKeysOf(raw.key_records.map((record) => verifyKeyRecord(suite, record, roots)));
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

const keyRecord = (signer: Signer, role: KeyRole): KeyRecord =>
  certifyKey(
    { v: '1', kid: signer.kid, role, public_key: base64urlEncode(rawPublicKey(signer.key)), subject: signer.subject, ...VALIDITY },
    ROOT.kid,
    (m) => signSync(ROOT.key, m),
  );
/** The key records a verifier is given (the stranger's key has none). */
const KEY_RECORDS = [keyRecord(KEYS.authority, 'producer'), keyRecord(KEYS.authz, 'producer'), keyRecord(KEYS.audit, 'audit')];

const LINEAGE = 'lineage://op/01HZK9R2P3M7F8B4';
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
];
/** Heads are signed after seq 2 and after the last record. */
const FIRST_HEAD_SEQ = 2;
const HEAD_TIME = (seq: number) => at(6000 + seq);
const signedHead = (seq: number, event_hash: string, event_hash_alt: string, time = HEAD_TIME(seq)) =>
  signHead({ v: '1', log: VECTOR_LOG, seq, event_hash, event_hash_alt, time }, KEYS.audit.kid, (m) => signSync(KEYS.audit.key, m));

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
  /** Replaces the time a head is signed at. */
  headTime?: (seq: number) => string;
}

function buildChain(options: ChainOptions = {}): { records: ChainRecord[]; heads: SignedHead[] } {
  let state = genesis(nodeCrypto, options.genesisLog ?? VECTOR_LOG);
  const tails = new Map<string, string>();
  const records: ChainRecord[] = [];
  const heads: SignedHead[] = [];
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
      state = next.state;
      if (lineage !== undefined) tails.set(lineage, next.record.event_hash);
      if (seq === FIRST_HEAD_SEQ || seq === sequence.length)
        heads.push(signedHead(seq, next.record.event_hash, next.record.event_hash_alt, options.headTime?.(seq)));
  }
  return { records, heads };
}

type Line = { record: ChainRecord } | { head: SignedHead } | { raw: string };

/** Export lines: each head right after the record it covers. */
function exportLines({ records, heads }: { records: ChainRecord[]; heads: SignedHead[] }): Line[] {
  const lines: Line[] = [];
  for (const record of records) {
    lines.push({ record });
    for (const head of heads) if (head.seq === record.seq) lines.push({ head });
  }
  return lines;
}

function exportText(lines: Line[], log = VECTOR_LOG, to = 10): string {
  const header = { anchor: null, format: EXPORT_FORMAT, from: 1, log, to };
  const text = (line: Line) => ('raw' in line ? line.raw : canonicalize('record' in line ? line.record : line.head));
  return [canonicalize(header), ...lines.map(text)].join('\n') + '\n';
}

/** Flips the last hex digit of a hash reference. */
const flipHex = (ref: string) => ref.slice(0, -1) + (ref.endsWith('0') ? '1' : '0');
/** Changes the first character of a base64url signature (stays in the alphabet). */
const flipSignature = (val: string) => (val.startsWith('A') ? 'B' : 'A') + val.slice(1);

/** A case: the export in `text`, or another case's `file`; `head` names a trusted head given to the verifier. */
interface Case {
  desc: string;
  wantErr: string | null;
  wantSeq: number | null;
  text?: string;
  file?: string;
  head?: string;
}

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

/**
 * The valid chain and one more record, the event text given (a batch of one by the authority's
 * producer key, validly signed), chained by the sequencer's encoder, with a head over it.
 */
function withExtraRecord(eventText: string): Line[] {
  const valid = buildChain();
  const signer = KEYS.authority;
  const leaf = leafHash(nodeCrypto, utf8Encode(eventText));
  const val = base64urlEncode(signSync(signer.key, batchStatement(VECTOR_LOG, signer.kid, 1, leaf)));
  const sigText = batchSignatureText(signer.kid, 1, 0, [], val);
  const { record } = linkRecord(chainStateOf(valid.records.at(-1)!)!, eventText, sigText, undefined);
  return [...exportLines(valid), { raw: record.text }, { head: signedHead(record.seq, record.eventHash, record.eventHashAlt) }];
}

function buildCases(): Map<string, Case> {
  const valid = buildChain();
  const lines = exportLines(valid);
  const recordLine = (seq: number) => lines.findIndex((l) => 'record' in l && l.record.seq === seq);
  const replaceRecord = (seq: number, edit: (r: ChainRecord) => ChainRecord): Line[] =>
    lines.map((l) => ('record' in l && l.record.seq === seq ? { record: edit(structuredClone(l.record)) } : l));
  const without = (...seqs: number[]) => lines.filter((l) => !('record' in l && seqs.includes(l.record.seq)));
  const swapped = [...lines];
  [swapped[recordLine(7)], swapped[recordLine(8)]] = [swapped[recordLine(8)]!, swapped[recordLine(7)]!];
  const last = valid.records.at(-1)!;
  const overClaim = signedHead(12, last.event_hash, last.event_hash_alt);
  const finalHead = valid.heads.at(-1)!;
  const recordText = (seq: number) => canonicalize(valid.records[seq - 1]!);
  const withLine = (seq: number, raw: string) => lines.map((l) => ('record' in l && l.record.seq === seq ? { raw } : l));
  const forged = canonicalize({ ...valid.records[3]!.event, identity: 'spiffe://cluster.local/ns/attacker/sa/forged' });
  const cases: [string, Case][] = [
    ['valid', { desc: 'a valid chain of 10 records in 4 batches with heads at 2 and 10', wantErr: null, wantSeq: null, text: exportText(lines) }],
    [
      'edited-event',
      { desc: 'record 4 event.operation changed after chaining', wantErr: 'ledger.hash.mismatch', wantSeq: 4, text: exportText(replaceRecord(4, (r) => ({ ...r, event: { ...r.event, operation: 'model.train' } }))) },
    ],
    ['deleted-record', { desc: 'record 6 removed', wantErr: 'ledger.sequence.invalid', wantSeq: 6, text: exportText(without(6)) }],
    ['reordered-records', { desc: 'records 7 and 8 swapped', wantErr: 'ledger.sequence.invalid', wantSeq: 7, text: exportText(swapped) }],
    [
      'truncated-tail',
      { desc: 'records 9 and 10 removed; the head at 10 kept', wantErr: 'ledger.head.mismatch', wantSeq: 9, text: exportText(without(9, 10)) },
    ],
    [
      'head-claims-more',
      { desc: 'a validly signed head claims seq 12 of a chain of 10', wantErr: 'ledger.head.mismatch', wantSeq: 11, text: exportText([...lines, { head: overClaim }], VECTOR_LOG, 12) },
    ],
    [
      'bad-producer-signature',
      {
        desc: 'record 3 chained with a corrupted batch signature (hashes and heads recomputed over it)',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 3,
        text: exportText(exportLines(buildChain({ editSigned: (seq, s) => (seq === 3 ? { ...s, sig: { ...s.sig, val: flipSignature(s.sig.val) } } : s) }))),
      },
    ],
    [
      'unknown-producer-kid',
      {
        desc: 'batch 4 (record 10) signed by a key that is not a certified producer',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 10,
        text: exportText(exportLines(buildChain({ signerOf: (b) => (b === 3 ? { ...KEYS.stranger, kid: KEYS.authority.kid } : undefined) }))),
      },
    ],
    [
      'bad-head-signature',
      {
        desc: 'the head at 10 with a corrupted signature',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 10,
        text: exportText(lines.map((l) => ('head' in l && l.head.seq === 10 ? { head: { ...finalHead, sig: { ...finalHead.sig, val: flipSignature(finalHead.sig.val) } } } : l))),
      },
    ],
    [
      'broken-lineage-prev',
      {
        desc: 'record 5 links to record 1 instead of record 4 (hashes and heads recomputed over it)',
        wantErr: 'ledger.lineage.invalid',
        wantSeq: 5,
        text: exportText(exportLines(buildChain({ lineagePrev: (seq, prev) => (seq === 5 ? valid.records[0]!.event_hash : prev) }))),
      },
    ],
    ['wrong-alt-hash-only', { desc: 'record 6 event_hash_alt changed, event_hash intact', wantErr: 'ledger.hash.mismatch', wantSeq: 6, text: exportText(replaceRecord(6, (r) => ({ ...r, event_hash_alt: flipHex(r.event_hash_alt) }))) }],
    [
      'wrong-genesis-log',
      {
        desc: 'a chain hashed from the genesis of another log, under heads signed for this one',
        wantErr: 'ledger.hash.mismatch',
        wantSeq: 1,
        text: exportText(exportLines(buildChain({ genesisLog: 'governance-other' }))),
      },
    ],
    [
      'replayed-batch',
      {
        desc: 'batch 1 (records 1 and 2) chained again as records 11 and 12 by a sequencer holding the audit key (hashes and heads recomputed)',
        wantErr: 'ledger.batch.replayed',
        wantSeq: 11,
        text: exportText(exportLines(buildChain({ sequence: (batches) => [...batches.flat(), ...batches[0]!] })), VECTOR_LOG, 12),
      },
    ],
    [
      'dropped-event',
      {
        desc: 'event 1 of batch 2 (record 4) left out by a sequencer holding the audit key (hashes and heads recomputed)',
        wantErr: 'ledger.batch.incomplete',
        wantSeq: 4,
        text: exportText(exportLines(buildChain({ sequence: (batches) => batches.flat().filter((e) => !(e.sig.val === batches[1]![0]!.sig.val && e.sig.index === 1)) })), VECTOR_LOG, 9),
      },
    ],
    [
      'producer-not-key-subject',
      {
        desc: 'batch 1 (producer authority://prod) signed by the key certified for authz-server://pod-7f9c',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 1,
        text: exportText(exportLines(buildChain({ signerOf: (b) => (b === 0 ? KEYS.authz : undefined) }))),
      },
    ],
    [
      'event-outside-key-validity',
      {
        desc: 'event 0 of batch 2 (record 3) timed after its producer key expired (2026-05-12T23:59:59Z), validly signed',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 3,
        text: exportText(
          exportLines(buildChain({ editEvent: (b, i, e) => (b === 1 && i === 0 ? { ...e, time: '2026-05-13T00:00:00.000Z' } : e) })),
        ),
      },
    ],
    ['not-json-line', { desc: 'record 3 replaced by a line that is not JSON', wantErr: 'encoding.invalid', wantSeq: 3, text: exportText(lines.map((l, i) => (i === recordLine(3) ? { raw: '{"event":' } : l))) }],
    [
      'duplicate-event-member',
      {
        desc: 'record 4 with a forged "event" member before the genuine one: a parser keeping the last member sees a valid record, one keeping the first sees the forgery',
        wantErr: 'encoding.invalid',
        wantSeq: 4,
        text: exportText(withLine(4, `{"event":${forged},${recordText(4).slice(1)}`)),
      },
    ],
    [
      'noncanonical-whitespace',
      { desc: 'record 5 with a space after a colon: the same JSON value, not its canonical bytes', wantErr: 'encoding.invalid', wantSeq: 5, text: exportText(withLine(5, recordText(5).replace(',"seq":5,', ',"seq": 5,'))) },
    ],
    [
      'data-depth-at-limit',
      {
        desc: 'record 11 whose event data nests 29 arrays: the innermost is at depth 31 of the record, the deepest allowed',
        wantErr: null,
        wantSeq: null,
        text: exportText(withExtraRecord(DEPTH_AT_LIMIT), VECTOR_LOG, 11),
      },
    ],
    [
      'data-depth-past-limit',
      {
        desc: 'record 11 whose event data nests 30 arrays (depth 32 of the record), validly signed and chained',
        wantErr: 'encoding.invalid',
        wantSeq: 11,
        text: exportText(withExtraRecord(DEPTH_AT_LIMIT.replace('[0]', '[[0]]')), VECTOR_LOG, 11),
      },
    ],
    [
      'data-fraction',
      {
        desc: 'record 11 whose event data holds the number 1.5 (canonical JSON, not an integer), validly signed and chained',
        wantErr: 'ledger.event.invalid',
        wantSeq: 11,
        text: exportText(withExtraRecord(canonicalize(extraEvent({ ratio: 1.5 }))), VECTOR_LOG, 11),
      },
    ],
    [
      'data-unsafe-integer',
      {
        desc: 'record 11 whose event data holds 9007199254740992 (2^53, canonical JSON, not a safe integer), validly signed and chained',
        wantErr: 'ledger.event.invalid',
        wantSeq: 11,
        text: exportText(withExtraRecord(canonicalize(extraEvent({ count: 2 ** 53 }))), VECTOR_LOG, 11),
      },
    ],
    [
      'head-outside-audit-key-validity',
      {
        desc: 'the head at 10 signed at 2026-05-13T00:00:00.000Z, after its audit key expired (2026-05-12T23:59:59Z)',
        wantErr: 'ledger.signature.invalid',
        wantSeq: 10,
        text: exportText(exportLines(buildChain({ headTime: (seq) => (seq === 10 ? '2026-05-13T00:00:00.000Z' : HEAD_TIME(seq)) }))),
      },
    ],
    [
      'cut-at-earlier-head',
      {
        desc: 'records 3..10 and the head at 10 cut off, the header saying to 2: without a trusted head, the chain up to its head at 2 verifies',
        wantErr: null,
        wantSeq: null,
        text: exportText(lines.slice(0, recordLine(3)), VECTOR_LOG, 2),
      },
    ],
    [
      'cut-at-earlier-head-trusted',
      {
        desc: 'the same file given the head at 10 (head.json) as trusted: the chain ends before it',
        wantErr: 'ledger.chain.truncated',
        wantSeq: 3,
        file: 'cut-at-earlier-head.jsonl',
        head: 'head.json',
      },
    ],
    [
      'record-extra-member',
      { desc: 'record 2 carries a member no hash covers', wantErr: 'ledger.event.invalid', wantSeq: 2, text: exportText(replaceRecord(2, (r) => ({ ...r, note: 'x' }) as ChainRecord)) },
    ],
  ];
  return new Map(cases);
}

/** A proof of the vectors' operation in a chain, made by the reader behind the proof endpoints. */
function lineageProof({ records, heads }: { records: ChainRecord[]; heads: SignedHead[] }): Promise<LineageProof> {
  const stored = (items: (ChainRecord | SignedHead)[], from: number, to: number) =>
    items.filter((i) => i.seq >= from && i.seq <= to).map((i) => ({ seq: i.seq, text: canonicalize(i) }));
  const source: ChainSource = {
    records: async (from, to) => stored(records, from, to),
    heads: async (from, to, count) => stored(heads, from, to).slice(0, count),
    latestHead: async () => stored(heads, 1, Infinity).at(-1),
    lineageSeqs: async (lineage) => records.filter((r) => r.event.lineage === lineage).map((r) => r.seq),
  };
  return new StoreLedgerReader(source).lineageProof(LINEAGE);
}

interface LineageCase {
  desc: string;
  wantErr: string | null;
  wantSeq: number | null;
  proof: LineageProof;
}

/** Lineage proofs of the operation of the valid chain, and of chains where some of its events were emitted without its lineage. */
async function buildLineageCases(): Promise<Map<string, LineageCase>> {
  /** The chain with the events at [batch, index] emitted without the lineage (signed and chained so). */
  const without = (...events: [number, number][]) =>
    buildChain({
      editEvent: (b, i, e) => {
        if (!events.some(([eb, ei]) => eb === b && ei === i)) return e;
        const { lineage: _lineage, ...rest } = e;
        return rest;
      },
    });
  const cases: [string, Omit<LineageCase, 'proof'>, { records: ChainRecord[]; heads: SignedHead[] }][] = [
    ['lineage-seven-stages', { desc: 'the seven stages in order (records 1, 4..9)', wantErr: null, wantSeq: null }, buildChain()],
    [
      'lineage-admitted-only',
      { desc: 'issued, consumed, granted (records 1, 4, 5): an operation admitted and never run stops early, in order', wantErr: null, wantSeq: null },
      without([2, 0], [2, 1], [2, 2], [2, 3]),
    ],
    [
      'lineage-attestation-without-admission',
      { desc: 'issued, then the four execution stages (records 1, 6..9): no authorization.consumed or admission.granted before execution.started', wantErr: 'ledger.lineage.order', wantSeq: 6 },
      without([1, 1], [1, 2]),
    ],
    [
      'lineage-granted-without-consumed',
      { desc: 'admission.granted (record 5) with no authorization.consumed before it', wantErr: 'ledger.lineage.order', wantSeq: 5 },
      without([1, 1]),
    ],
    [
      'lineage-attestation-of-another-admission',
      { desc: 'attestation.signed (record 7) names an attestation id whose SHA3-512 is no earlier admission.granted\'s attestation_ref', wantErr: 'ledger.lineage.order', wantSeq: 7 },
      buildChain({
        editEvent: (b, i, e) =>
          b === 2 && i === 1 ? { ...e, data: { attestation: { attestation_id: OTHER_ATTESTATION_ID, result_digest: 'sha3-512:' + '0'.repeat(128) } } } : e,
      }),
    ],
    [
      'lineage-issued-not-first',
      { desc: 'the lineage starts with authorization.consumed (record 4): authorization.issued is not first', wantErr: 'ledger.lineage.order', wantSeq: 4 },
      without([0, 0]),
    ],
  ];
  const built = await Promise.all(cases.map(async ([name, c, chain]) => [name, { ...c, proof: await lineageProof(chain) }] as const));
  return new Map(built);
}

/** The values docs/spec/ledger.md shows for the first batch, records 1 and 2 and the head at 2. */
function example(): Record<string, string> {
  const { records, heads } = buildChain();
  const first = BATCHES[0]!;
  const eventBytes = first.events.map((e) => validateEvent(e));
  const leaves = eventBytes.map((e) => leafHash(nodeCrypto, e));
  const { root } = merkleTree(nodeCrypto, leaves);
  const start = genesis(nodeCrypto, VECTOR_LOG);
  const text = (bytes: Uint8Array) => utf8Decode(bytes)!;
  const [r1, r2] = records as [ChainRecord, ChainRecord];
  const { event_hash: _h1, event_hash_alt: _a1, ...body1 } = r1;
  const { event_hash: _h2, event_hash_alt: _a2, ...body2 } = r2;
  const head = heads[0]!;
  const { sig: _sig, ...headBody } = head;
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
    head_statement: text(headStatement(headBody)),
    head: canonicalize(head),
    audit_public_key: base64urlEncode(rawPublicKey(KEYS.audit.key)),
    root_public_key: base64urlEncode(rawPublicKey(ROOT.key)),
    key_record_statement: text(keyRecordStatement(keyBody)),
    key_record: canonicalize(KEY_RECORDS[0]),
  };
}

export async function generateLedgerVectors(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const cases = buildCases();
  const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  files.set('keys.json', json({ log: VECTOR_LOG, root: { kid: ROOT.kid, public_key: base64urlEncode(rawPublicKey(ROOT.key)) }, key_records: KEY_RECORDS }));
  files.set('head.json', json(buildChain().heads.at(-1)));
  const entry = (name: string, { desc, file, head, wantErr, wantSeq }: Case) => [name, { desc, file: file ?? `${name}.jsonl`, ...(head ? { head } : {}), wantErr, wantSeq }];
  files.set('cases.json', json(Object.fromEntries([...cases].map(([name, c]) => entry(name, c)))));
  for (const [name, c] of cases) if (c.text !== undefined) files.set(`${name}.jsonl`, c.text);
  const lineageCases = await buildLineageCases();
  files.set('lineage-cases.json', json(Object.fromEntries([...lineageCases].map(([name, { desc, wantErr, wantSeq }]) => [name, { desc, file: `${name}.json`, wantErr, wantSeq }]))));
  for (const [name, c] of lineageCases) files.set(`${name}.json`, json(c.proof));
  files.set('example.json', json(example()));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generateLedgerVectors();
  rmSync(LEDGER_VECTOR_DIR, { recursive: true, force: true });
  mkdirSync(LEDGER_VECTOR_DIR, { recursive: true });
  for (const [name, content] of files) writeFileSync(join(LEDGER_VECTOR_DIR, name), content);
  console.log(`wrote ${files.size} files to ${LEDGER_VECTOR_DIR} (${readdirSync(LEDGER_VECTOR_DIR).length} files)`);
}
