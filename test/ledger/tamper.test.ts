// Someone with write access to Redis edits the chain or checkpoint streams, or a sequencer
// holding the audit key publishes a checkpoint of a history it rewrote: the verifier must name
// the sequence number of every edit, deletion, reordering, over-claiming or re-signed
// checkpoint, the last with a trusted checkpoint captured before.
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
import { chainRecord, chainStateOf, type ChainRecord } from '../../core/event.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { indexKey, SparseMerkleIndex } from '../../core/smt.js';
import { CompactRange, tlogLeafHash } from '../../core/tlog.js';
import { verifyStore, type VerifyFailure } from '../../ledger/verify.js';
import { RedisLedgerStore, ledgerKeys } from '../../store/ledger-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { TestLedger, auditKey, ledgerKeys as keys, lineageEvents, testEvent, until } from './support.js';

const LOG = 'tamper-log';
let redis: TestRedis;
let admin: Redis;
let ledger: TestLedger;
let names: ReturnType<typeof ledgerKeys>;
let original: [string, string[]][];
let originalCheckpoints: [string, string[]][];
let checkpoints: number[];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  const prefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
  names = ledgerKeys(LOG, prefix);
  ledger = new TestLedger(() => new RedisLedgerStore({ url: redis.url, log: LOG, prefix }));
  const sequencer = ledger.sequencer({ headIntervalMs: 50 });
  const writer = await ledger.writer({ maxBatch: 8 });
  for (let i = 0; i < 4; i++) {
    await writer.appendAndWait([
      ...Array.from({ length: 6 }, (_, j) => testEvent(10 * i + j)),
      lineageEvents('T', 100)[i]!,
    ]);
  }
  await until(async () => (await ledger.store.tip()).signedSeq === 28, 5000, 'a checkpoint over the chain');
  await sequencer.stop();
  original = (await admin.xrange(names.chain, '-', '+')) as [string, string[]][];
  originalCheckpoints = (await admin.xrange(names.checkpoints, '-', '+')) as [string, string[]][];
  checkpoints = originalCheckpoints.map(([id]) => parseInt(id));
});

afterAll(async () => {
  await ledger?.close();
  admin?.disconnect();
  await redis?.stop();
});

/** Rebuilds the chain stream with the given entries (ids kept), as an attacker could. */
async function rewrite(entries: [string, string[]][]): Promise<void> {
  const multi = admin.multi().del(names.chain);
  for (const [id, fields] of entries) multi.xadd(names.chain, id, ...fields);
  await multi.exec();
}

const record = (i: number) => JSON.parse(original[i]![1][1]!) as ChainRecord;
const withRecord = (i: number, edit: (r: ChainRecord) => void): [string, string[]][] =>
  original.map((entry, j) => {
    if (j !== i) return entry;
    const r = record(i);
    edit(r);
    return [entry[0], ['r', canonicalize(r)]];
  });

async function firstFailure(checkpoint?: string): Promise<VerifyFailure | undefined> {
  return (await verifyStore(ledger.store, { suite: nodeCrypto, keys, ...(checkpoint ? { checkpoint } : {}) }))
    .failures[0];
}

/** Replaces the checkpoint stream with these signed notes, by size. */
async function rewriteCheckpoints(notes: [number, string][]): Promise<void> {
  const multi = admin.multi().del(names.checkpoints);
  for (const [size, note] of notes) multi.xadd(names.checkpoints, `${size}-0`, 'h', note);
  await multi.exec();
}

/**
 * A checkpoint of the stored records 1..size as the sequencer computes it (root, chain line,
 * lineage index), edited, and signed with the audit key: what a sequencer holding the key can
 * publish for any history it likes.
 */
function signedCheckpoint(
  size: number,
  edit: (c: LedgerCheckpoint) => LedgerCheckpoint = (c) => c,
  entries = original,
): string {
  const tree = CompactRange.empty(nodeCrypto);
  const index = new SparseMerkleIndex(nodeCrypto);
  for (const [, fields] of entries.slice(0, size)) {
    const leaf = tlogLeafHash(nodeCrypto, utf8Encode(fields[1]!));
    tree.append(leaf);
    const { lineage } = (JSON.parse(fields[1]!) as ChainRecord).event;
    if (lineage !== undefined) index.set(indexKey(nodeCrypto, lineage), leaf);
  }
  const { hash, alt } = chainStateOf(JSON.parse(entries[size - 1]![1][1]!) as ChainRecord)!;
  const checkpoint = {
    log: LOG,
    size,
    root: tree.root(),
    chain: { hash, alt },
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

const latest = () => originalCheckpoints.at(-1)![1][1]!;

describe('tampering with the chain stream in Redis', () => {
  beforeEach(async () => {
    await rewrite(original);
    await rewriteCheckpoints(originalCheckpoints.map(([id, fields]) => [parseInt(id), fields[1]!]));
  });

  it('verifies untouched', async () => {
    const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys });
    expect(result.failures).toEqual([]);
    expect(result).toMatchObject({ ok: true, records: 28, lastSeq: 28 });
  });

  it('names an edited event', async () => {
    await rewrite(withRecord(11, (r) => (r.event.operation = 'model.train')));
    expect(await firstFailure()).toMatchObject({ code: 'ledger.hash.mismatch', seq: 12 });
  });

  it('names an edited alternative hash', async () => {
    await rewrite(
      withRecord(
        4,
        (r) => (r.event_hash_alt = r.event_hash_alt.replace(/.$/, (c) => (c === '0' ? '1' : '0'))),
      ),
    );
    expect(await firstFailure()).toMatchObject({ code: 'ledger.hash.mismatch', seq: 5 });
  });

  it('names a deleted record', async () => {
    const seq = [...Array(27).keys()].map((i) => i + 1).find((s) => !checkpoints.includes(s))!;
    await admin.xdel(names.chain, `${seq}-0`);
    expect(await firstFailure()).toMatchObject({ code: 'ledger.sequence.invalid', seq });
  });

  it('names reordered records', async () => {
    const swapped = original.map((entry, j) =>
      j === 8 ? [entry[0], original[9]![1]] : j === 9 ? [entry[0], original[8]![1]] : entry,
    ) as [string, string[]][];
    await rewrite(swapped);
    expect(await firstFailure()).toMatchObject({ code: 'ledger.sequence.invalid', seq: 9 });
  });

  it('names the first missing record when a signed checkpoint claims more than the chain holds', async () => {
    const claim = signedCheckpoint(28, (c) => ({ ...c, size: 30 }));
    await admin.xadd(names.checkpoints, '30-0', 'h', claim);
    expect(await firstFailure()).toMatchObject({ code: 'ledger.head.mismatch', seq: 29 });
  });

  it('computes the checkpoints it publishes as the sequencer does (the helper of the tests below)', () => {
    const published = parseCheckpointNote(latest()).checkpoint;
    expect(parseCheckpointNote(signedCheckpoint(28)).checkpoint).toMatchObject({
      size: 28,
      root: published.root,
      chain: published.chain,
      index: published.index,
    });
  });

  it('names a checkpoint whose index line is not the index of the records', async () => {
    const wrong = signedCheckpoint(28, (c) => ({ ...c, index: new Uint8Array(32).fill(1) }));
    await rewriteCheckpoints([[28, wrong]]);
    expect(await firstFailure()).toMatchObject({ code: 'ledger.index.mismatch', seq: 28 });
  });

  it('passes the last batch dropped and re-signed alone, and names it truncated against a checkpoint captured before', async () => {
    await rewriteCheckpoints([[21, signedCheckpoint(21)]]);
    expect(await firstFailure()).toBeUndefined();
    expect(await firstFailure(latest())).toMatchObject({ code: 'ledger.chain.truncated', seq: 22 });
  });

  it('names a record edited, every hash recomputed and the checkpoint re-signed, as inconsistent with a checkpoint captured before', async () => {
    // The event of record 28 edited and its hashes recomputed: its producer signature no longer
    // verifies, but the point here is what only a trusted checkpoint exposes: another tree.
    const last = original.length - 1;
    const r = record(last);
    r.event.request_id = 'req-forged';
    const previous = chainStateOf(record(last - 1))!;
    const { event, sig, lineage_prev } = r;
    const forged = chainRecord(nodeCrypto, previous, { event, sig }, lineage_prev).record;
    const entries = original.map((entry, j): [string, string[]] =>
      j === last ? [entry[0], ['r', canonicalize(forged)]] : entry,
    );
    await rewrite(entries);
    await rewriteCheckpoints([[28, signedCheckpoint(28, undefined, entries)]]);
    const failures = (await verifyStore(ledger.store, { suite: nodeCrypto, keys, checkpoint: latest() }))
      .failures;
    // (The batch of record 28 then counts as incomplete too: its last event did not verify.)
    expect(failures.slice(0, 2).map((f) => f.code)).toEqual([
      'ledger.signature.invalid',
      'ledger.checkpoint.inconsistent',
    ]);
    expect(failures[1]).toMatchObject({ seq: 28 });
  });
});
