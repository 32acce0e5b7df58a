// Someone with write access to Redis edits the stored records or checkpoints, or a sequencer
// holding the audit key publishes a checkpoint of a history it rewrote: the verifier must name
// the sequence number of every edit, deletion, reordering, replay, over-claiming or re-signed
// checkpoint, the last with a trusted checkpoint captured before. Records hold no hashes: an
// edit shows at its record where it can (its signature, its lineage links, its encoding) and at
// the next checkpoint, whose chain line no longer recomputes; from there the chain resumes.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import {
  checkpointNote,
  parseCheckpointNote,
  signCheckpoint,
  type LedgerCheckpoint,
} from '../../core/checkpoint.js';
import { utf8Encode } from '../../core/encoding.js';
import {
  chainNext,
  genesis,
  type ChainRecord,
  type ChainState,
  type EventPosition,
} from '../../core/event.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { indexKey, SparseMerkleIndex, valueOfPosition } from '../../core/smt.js';
import { CompactRange, tlogLeafHash } from '../../core/tlog.js';
import { verifyStore, type VerifyFailure, type VerifyResult } from '../../ledger/verify.js';
import { RedisLedgerStore, ledgerKeys } from '../../store/ledger-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { TestLedger, auditKey, ledgerKeys as keys, lineageEvents, testEvent, until } from './support.js';

const LOG = 'tamper-log';
/** Records: 4 appends of 3 batches of 7 events; the first 9 batches carry 2 lineage events each, the last 3 none. */
const RECORDS = 12;
let redis: TestRedis;
let admin: Redis;
let ledger: TestLedger;
let names: ReturnType<typeof ledgerKeys>;
/** The record texts as the sequencer chained them: original[i] is record i + 1. */
let original: string[];
let originalCheckpoints: [number, string][];
let checkpoints: number[];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  const prefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
  names = ledgerKeys(LOG, prefix);
  ledger = new TestLedger(() => new RedisLedgerStore({ url: redis.url, log: LOG, prefix }));
  const sequencer = ledger.sequencer({ headIntervalMs: 50 });
  const writer = await ledger.writer({ maxBatch: 7 });
  // Lineage T whole, U whole, V up to its admission: two events per batch, the same lineage's
  // events in one record (T's first two) and across records.
  const lineage = [
    ...lineageEvents('T', 100),
    ...lineageEvents('U', 200),
    ...lineageEvents('V', 300).slice(0, 4),
  ];
  for (let call = 0; call < 4; call++) {
    const events = [0, 1, 2].flatMap((j) => {
      const batch = 3 * call + j;
      const plain = (n: number) => Array.from({ length: n }, (_, e) => testEvent(10 * batch + e));
      return batch < 9 ? [...plain(5), lineage[2 * batch]!, lineage[2 * batch + 1]!] : plain(7);
    });
    await writer.appendAndWait(events, 30_000);
    // A checkpoint after each append: several checkpoints, each after three records.
    const seq = 3 * (call + 1);
    await until(async () => (await ledger.store.tip()).signedSeq === seq, 30_000, `a checkpoint at ${seq}`);
  }
  await sequencer.stop();
  original = (await ledger.store.records(1, RECORDS)).map((r) => r.text);
  originalCheckpoints = ((await admin.xrange(names.checkpoints, '-', '+')) as [string, string[]][]).map(
    ([id, f]) => [parseInt(id), f[1]!],
  );
  checkpoints = originalCheckpoints.map(([size]) => size);
}, 120_000);

afterAll(async () => {
  await ledger?.close();
  admin?.disconnect();
  await redis?.stop();
});

/** Rewrites the stored records with these texts, text i as record i + 1, and the tip, as an attacker could. */
async function rewrite(texts: string[]): Promise<void> {
  const multi = admin.multi().hset(names.tip, 'seq', texts.length);
  for (let seq = 1; seq <= RECORDS + 2; seq++) multi.del(names.record(seq));
  for (const [i, text] of texts.entries()) multi.set(names.record(i + 1), text);
  await multi.exec();
}

/** Replaces the checkpoint stream with these signed notes, by size. */
async function rewriteCheckpoints(notes: [number, string][]): Promise<void> {
  const multi = admin.multi().del(names.checkpoints);
  for (const [size, note] of notes) multi.xadd(names.checkpoints, `${size}-0`, 'h', note);
  await multi.exec();
}

const record = (seq: number) => JSON.parse(original[seq - 1]!) as ChainRecord;
/** The original records with record `seq` edited (and re-encoded canonically). */
const withRecord = (seq: number, edit: (r: ChainRecord) => void): string[] =>
  original.map((text, i) => {
    if (i !== seq - 1) return text;
    const r = record(seq);
    edit(r);
    return canonicalize(r);
  });

/**
 * Chains producer batches again from the genesis, as a sequencer holding the audit key can:
 * each gets the next seq and the lineage_prev that its position implies. The batches' own
 * signatures are untouched.
 */
function relink(batches: Pick<ChainRecord, 'events' | 'kid' | 'val'>[]): string[] {
  const latest = new Map<string, EventPosition>();
  return batches.map(({ events, kid, val }, i) => {
    const seq = i + 1;
    const lineage_prev = events.map((event, index): EventPosition | null => {
      if (event.lineage === undefined) return null;
      const prev = latest.get(event.lineage) ?? null;
      latest.set(event.lineage, [seq, index]);
      return prev;
    });
    return canonicalize({ events, kid, lineage_prev, seq, val });
  });
}

/** The chain state, tree and lineage index of these record texts, as the sequencer computes them. */
function chainOf(texts: string[]): { state: ChainState; tree: CompactRange; index: SparseMerkleIndex } {
  let state = genesis(nodeCrypto, LOG);
  const tree = CompactRange.empty(nodeCrypto);
  const index = new SparseMerkleIndex(nodeCrypto);
  for (const text of texts) {
    state = chainNext(nodeCrypto, state, utf8Encode(text));
    tree.append(tlogLeafHash(nodeCrypto, utf8Encode(text)));
    const { events, seq } = JSON.parse(text) as ChainRecord;
    events.forEach(({ lineage }, i) => {
      if (lineage !== undefined) index.set(indexKey(nodeCrypto, lineage), valueOfPosition([seq, i]));
    });
  }
  return { state, tree, index };
}

/**
 * A checkpoint of records 1..size of `texts` as the sequencer computes it (root, chain line,
 * lineage index), edited, and signed with the audit key: what a sequencer holding the key can
 * publish for any history it likes.
 */
function signedCheckpoint(
  size: number,
  edit: (c: LedgerCheckpoint) => LedgerCheckpoint = (c) => c,
  texts = original,
): string {
  const { state, tree, index } = chainOf(texts.slice(0, size));
  const checkpoint = {
    log: LOG,
    size,
    root: tree.root(),
    chain: { hash: state.hash, alt: state.alt },
    index: index.root(),
    time: '2026-05-12T17:05:00.000Z',
  };
  return checkpointNote(
    signCheckpoint(nodeCrypto, edit(checkpoint), {
      publicKey: rawPublicKey(auditKey),
      sign: (m) => signSync(auditKey, m),
    }),
  );
}

const verify = (checkpoint?: string): Promise<VerifyResult> =>
  verifyStore(ledger.store, { suite: nodeCrypto, keys, ...(checkpoint ? { checkpoint } : {}) });
const codesAndSeqs = (failures: VerifyFailure[]) => failures.map(({ code, seq }) => [code, seq]);
const latest = () => originalCheckpoints.at(-1)![1];
/** The first checkpoint at or after `seq`. */
const checkpointFrom = (seq: number) => checkpoints.find((size) => size >= seq)!;
/** A record that a checkpoint does not end, with at least one checkpoint after the one that covers it. */
const inner = () => [...Array(RECORDS).keys()].map((i) => i + 1).find((s) => !checkpoints.includes(s))!;
const flip = (bytes: Uint8Array) => bytes.map((b, i) => (i === 0 ? b ^ 1 : b));

describe('tampering with the records and checkpoints in Redis', () => {
  beforeEach(async () => {
    await rewrite(original);
    await rewriteCheckpoints(originalCheckpoints);
  });

  it('verifies untouched', async () => {
    const result = await verify();
    expect(result.failures).toEqual([]);
    expect(result).toMatchObject({
      ok: true,
      records: RECORDS,
      lastSeq: RECORDS,
      checkpoints: checkpoints.length,
    });
    expect(checkpoints).toEqual([3, 6, 9, 12]);
  });

  it('names an edited event at its record (signature) and at the next checkpoint (chain and root), and goes on from there', async () => {
    const seq = inner();
    await rewrite(withRecord(seq, (r) => (r.events[1]!.operation = 'model.train')));
    const result = await verify();
    const next = checkpointFrom(seq);
    expect(next).toBeLessThan(RECORDS);
    expect(codesAndSeqs(result.failures)).toEqual([
      ['ledger.signature.invalid', seq],
      ['ledger.root.mismatch', next],
      ['ledger.hash.mismatch', next],
    ]);
    expect(result.failures[2]!.message).toMatch(/does not recompute to its chain line/);
    // The later checkpoints verify from the chain line signed at the next one: no cascade.
    expect(result.checkpoint?.checkpoint.size).toBe(RECORDS);
  });

  it('names an edited lineage_prev (not signed by the producer) at its record', async () => {
    // A link to an earlier record.
    const back = (s: number) => record(s).lineage_prev.findIndex((p) => p !== null && p[0] < s);
    const seq = [...Array(RECORDS).keys()].map((i) => i + 1).find((s) => back(s) >= 0)!;
    const at = back(seq);
    // Pointing at an earlier event that is not of its lineage: well-formed, and wrong.
    await rewrite(withRecord(seq, (r) => (r.lineage_prev[at] = [1, 0])));
    const result = await verify();
    expect(result.failures[0]).toMatchObject({ code: 'ledger.lineage.invalid', seq });
    expect(result.failures[0]!.message).toMatch(`lineage_prev of event ${at}`);
    expect(result.failures.map((f) => f.code)).not.toContain('ledger.signature.invalid');
    expect(result.failures.at(-1)).toMatchObject({ code: 'ledger.hash.mismatch', seq: checkpointFrom(seq) });
  });

  it('names a lineage_prev set to null inside a lineage', async () => {
    // T's second event, right after its first in record 1.
    expect(record(1).lineage_prev.slice(5)).toEqual([null, [1, 5]]);
    await rewrite(withRecord(1, (r) => (r.lineage_prev[6] = null)));
    expect((await verify()).failures[0]).toMatchObject({ code: 'ledger.lineage.invalid', seq: 1 });
  });

  it('names a deleted record', async () => {
    const seq = inner();
    await admin.del(names.record(seq));
    const result = await verify();
    expect(result.failures[0]).toMatchObject({ code: 'ledger.sequence.invalid', seq });
    expect(result.failures[0]!.message).toMatch(`record ${seq} missing`);
  });

  it('names reordered records', async () => {
    const seq = inner();
    const swapped = original.map((text, i) =>
      i === seq - 1 ? original[seq]! : i === seq ? original[seq - 1]! : text,
    );
    await rewrite(swapped);
    expect((await verify()).failures[0]).toMatchObject({ code: 'ledger.sequence.invalid', seq });
  });

  it('names a record that is not canonical JSON, and goes on from the next checkpoint', async () => {
    const seq = inner();
    await rewrite(original.map((text, i) => (i === seq - 1 ? text.replace('"kid":', '"kid": ') : text)));
    const result = await verify();
    expect(result.failures[0]).toMatchObject({ code: 'encoding.invalid', seq });
    expect(result.failures.every((f) => f.seq !== null && f.seq <= checkpointFrom(seq))).toBe(true);
    expect(result.checkpoint?.checkpoint.size).toBe(RECORDS);
  });

  it('names a record with a duplicate member', async () => {
    const seq = inner();
    // A forged events member before the genuine one: JSON.parse keeps the genuine one.
    const forged = canonicalize([testEvent(999)]);
    await rewrite(original.map((text, i) => (i === seq - 1 ? `{"events":${forged},${text.slice(1)}` : text)));
    expect((await verify()).failures[0]).toMatchObject({ code: 'encoding.invalid', seq });
  });

  it('names a batch chained again by a sequencer holding the audit key, checkpoint re-signed', async () => {
    const replayed = relink([...original, original[RECORDS - 1]!].map((t) => JSON.parse(t) as ChainRecord));
    await rewrite(replayed);
    await rewriteCheckpoints([
      ...originalCheckpoints,
      [RECORDS + 1, signedCheckpoint(RECORDS + 1, undefined, replayed)],
    ]);
    const result = await verify();
    expect(codesAndSeqs(result.failures)).toEqual([['ledger.batch.replayed', RECORDS + 1]]);
  });

  it('names the first missing record when a signed checkpoint claims more than the chain holds', async () => {
    const claim = signedCheckpoint(RECORDS, (c) => ({ ...c, size: RECORDS + 2 }));
    await admin.xadd(names.checkpoints, `${RECORDS + 2}-0`, 'h', claim);
    expect((await verify()).failures[0]).toMatchObject({ code: 'ledger.head.mismatch', seq: RECORDS + 1 });
  });

  it('computes the checkpoints it publishes as the sequencer does (the helper of the tests below)', () => {
    for (const [size, note] of originalCheckpoints) {
      const published = parseCheckpointNote(note).checkpoint;
      expect(parseCheckpointNote(signedCheckpoint(size)).checkpoint).toMatchObject({
        size,
        root: published.root,
        chain: published.chain,
        index: published.index,
      });
    }
  });

  /**
   * The failures of the chain with its last checkpoint re-signed after `edit`: that checkpoint's,
   * and then the records after the one before it, which no checkpoint that passed covers.
   */
  async function lastCheckpointEdited(edit: (c: LedgerCheckpoint) => LedgerCheckpoint) {
    await rewriteCheckpoints([
      ...originalCheckpoints.slice(0, -1),
      [RECORDS, signedCheckpoint(RECORDS, edit)],
    ]);
    const result = await verify();
    const before = checkpoints.at(-2)!;
    expect(result.failures.slice(1)).toEqual([
      expect.objectContaining({ code: 'ledger.head.mismatch', seq: before + 1 }),
    ]);
    expect(result.checkpoint?.checkpoint.size).toBe(before);
    return result.failures[0];
  }

  it('names a checkpoint whose index line is not the index of the records', async () => {
    expect(await lastCheckpointEdited((c) => ({ ...c, index: flip(c.index) }))).toMatchObject({
      code: 'ledger.index.mismatch',
      seq: RECORDS,
    });
  });

  it('names a checkpoint whose root is not the tree of the records', async () => {
    expect(await lastCheckpointEdited((c) => ({ ...c, root: flip(c.root) }))).toMatchObject({
      code: 'ledger.root.mismatch',
      seq: RECORDS,
    });
  });

  it.each([
    ['SHA3-512', (c: LedgerCheckpoint) => ({ ...c, chain: { ...c.chain, hash: flip(c.chain.hash) } })],
    ['BLAKE2b-512', (c: LedgerCheckpoint) => ({ ...c, chain: { ...c.chain, alt: flip(c.chain.alt) } })],
  ])('names a checkpoint whose chain line has another %s hash', async (_name, edit) => {
    expect(await lastCheckpointEdited(edit)).toMatchObject({ code: 'ledger.hash.mismatch', seq: RECORDS });
  });

  it('passes the last batch dropped and re-signed alone, and names it truncated against a checkpoint captured before', async () => {
    await rewriteCheckpoints([[RECORDS - 1, signedCheckpoint(RECORDS - 1)]]);
    expect((await verify()).failures).toEqual([]);
    expect(codesAndSeqs((await verify(latest())).failures)).toEqual([['ledger.chain.truncated', RECORDS]]);
  });

  it('passes two batches swapped, relinked and re-signed alone, and names them inconsistent with a checkpoint captured before', async () => {
    // The last two batches hold no lineage: swapped, every signature still verifies.
    const batches = original.map((t) => JSON.parse(t) as ChainRecord);
    [batches[RECORDS - 2], batches[RECORDS - 1]] = [batches[RECORDS - 1]!, batches[RECORDS - 2]!];
    const swapped = relink(batches);
    await rewrite(swapped);
    await rewriteCheckpoints([
      ...originalCheckpoints.slice(0, -1),
      [RECORDS, signedCheckpoint(RECORDS, undefined, swapped)],
    ]);
    expect((await verify()).failures).toEqual([]);
    expect(codesAndSeqs((await verify(latest())).failures)).toEqual([
      ['ledger.checkpoint.inconsistent', RECORDS],
    ]);
  });

  it('names a record edited, every hash recomputed and the checkpoint re-signed, as inconsistent with a checkpoint captured before', async () => {
    const edited = withRecord(RECORDS, (r) => (r.events[0]!.request_id = 'req-forged'));
    await rewrite(edited);
    await rewriteCheckpoints([
      ...originalCheckpoints.slice(0, -1),
      [RECORDS, signedCheckpoint(RECORDS, undefined, edited)],
    ]);
    // Its producer signature no longer verifies; what only the trusted checkpoint exposes is the other tree.
    expect(codesAndSeqs((await verify()).failures)).toEqual([['ledger.signature.invalid', RECORDS]]);
    expect(codesAndSeqs((await verify(latest())).failures)).toEqual([
      ['ledger.signature.invalid', RECORDS],
      ['ledger.checkpoint.inconsistent', RECORDS],
    ]);
  });
});
