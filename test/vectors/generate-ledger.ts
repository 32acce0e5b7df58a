// Generates the ledger test vectors (test/vectors/ledger/) from fixed seeds and fixed times, with
// the generic constructions of core/event.ts (signEventBatch, chainRecord, signHead): a small
// valid chain as an export file, its keys and latest head, and named tampered variants, each with
// the failure a verifier must report first ({desc, wantErr, wantSeq} in cases.json); lineage
// proofs of its operation and of variants (lineage-cases.json). Also example.json, the annotated
// example of docs/spec/ledger.md.
// `npx tsx test/vectors/generate-ledger.ts` rewrites the folder; test/ledger/vectors.test.ts
// checks that regenerating gives no diff.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalize } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlDecode, base64urlEncode, hexEncode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import {
  batchStatement,
  chainRecord,
  genesis,
  headStatement,
  leafHash,
  merkleTree,
  recordBytes,
  signEventBatch,
  signHead,
  validateEvent,
  type ChainRecord,
  type LedgerEvent,
  type SignedEvent,
  type SignedHead,
} from '../../core/event.js';
import { privateKeyFromSeed, rawPublicKey, signSync } from '../../core/keys.js';
import { parseSeconds } from '../../core/time.js';
import { EXPORT_FORMAT } from '../../ledger/export.js';
import { StoreLedgerReader, type ChainSource } from '../../ledger/reader.js';
import type { LedgerKeys } from '../../ledger/records.js';
import type { LineageProof } from '../../ledger/types.js';

export const LEDGER_VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ledger');

/** keys.json as a verifier takes it: producers (public key and subject) and audit keys by kid. */
export function readLedgerVectorKeys(): LedgerKeys {
  const raw = JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'keys.json'), 'utf8')) as {
    producers: Record<string, { public_key: string; subject: string; not_before: string; not_after: string }>;
    audit: Record<string, string>;
  };
  return {
    producers: new Map(
      Object.entries(raw.producers).map(([kid, p]) => [
        kid,
        {
          publicKey: base64urlDecode(p.public_key)!,
          subject: p.subject,
          validity: { notBefore: parseSeconds(p.not_before)!, notAfter: parseSeconds(p.not_after)! },
        },
      ]),
    ),
    audit: new Map(Object.entries(raw.audit).map(([kid, key]) => [kid, { publicKey: base64urlDecode(key)! }])),
  };
}

const sha3 = (text: string) => nodeCrypto.sha3_512(utf8Encode(text));
const seededKey = (name: string) =>
  privateKeyFromSeed(sha3(`execution-governance/test-vectors/ledger/key/${name}`).subarray(0, 32));

export const VECTOR_LOG = 'governance-vectors';
/** The producer keys' validity (their records' not_before and not_after): the day of the events. */
const VALIDITY = { not_before: '2026-05-12T00:00:00Z', not_after: '2026-05-12T23:59:59Z' };
/** Signing keys; a producer key's subject is the producer its key record certifies it for. */
const KEYS = {
  authority: { kid: 'producer:authority/1', key: seededKey('authority'), subject: 'authority://prod' },
  authz: { kid: 'producer:authz/1', key: seededKey('authz'), subject: 'authz-server://pod-7f9c' },
  audit: { kid: 'audit:ledger/1', key: seededKey('audit'), subject: VECTOR_LOG },
  stranger: { kid: 'producer:unknown/1', key: seededKey('stranger'), subject: 'authz-server://stranger' },
};
type Signer = (typeof KEYS)[keyof typeof KEYS];

const LINEAGE = 'lineage://op/01HZK9R2P3M7F8B4';
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
      event(411, { type: 'admission.granted', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, artifact_id: 'auth_01HZK9R2P3M7F8B4' }),
    ],
  },
  {
    signer: KEYS.authz,
    events: [
      event(520, { type: 'execution.started', producer: 'authz-server://pod-7f9c', lineage: LINEAGE }),
      event(1830, { type: 'attestation.signed', producer: 'authz-server://pod-7f9c', lineage: LINEAGE, data: { runtime_attestation: 'sha3-512:' + '0'.repeat(128) } }),
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
      if (seq === FIRST_HEAD_SEQ || seq === sequence.length) {
        heads.push(
          signHead(
            { v: '1', log: VECTOR_LOG, seq, event_hash: next.record.event_hash, event_hash_alt: next.record.event_hash_alt, time: HEAD_TIME(seq) },
            KEYS.audit.kid,
            (m) => signSync(KEYS.audit.key, m),
          ),
        );
      }
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
  const overClaim = signHead(
    { v: '1', log: VECTOR_LOG, seq: 12, event_hash: last.event_hash, event_hash_alt: last.event_hash_alt, time: HEAD_TIME(12) },
    KEYS.audit.kid,
    (m) => signSync(KEYS.audit.key, m),
  );
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
  };
}

export async function generateLedgerVectors(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const cases = buildCases();
  const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  const publicKey = (s: Signer) => base64urlEncode(rawPublicKey(s.key));
  const producers = Object.fromEntries(
    [KEYS.authority, KEYS.authz].map((s) => [s.kid, { public_key: publicKey(s), subject: s.subject, ...VALIDITY }]),
  );
  files.set('keys.json', json({ log: VECTOR_LOG, producers, audit: { [KEYS.audit.kid]: publicKey(KEYS.audit) } }));
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
