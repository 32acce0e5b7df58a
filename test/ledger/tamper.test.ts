// Someone with write access to Redis edits the chain stream: the verifier must name the
// sequence number of every edit, deletion, reordering and over-claiming head.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalize } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { signHead, type ChainRecord } from '../../core/event.js';
import { signSync } from '../../core/keys.js';
import { verifyStore, type VerifyFailure } from '../../ledger/verify.js';
import { RedisLedgerStore, ledgerKeys } from '../../store/ledger-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  AUDIT_KID,
  TestLedger,
  auditKey,
  ledgerKeys as keys,
  lineageEvents,
  testEvent,
  until,
} from './support.js';

const LOG = 'tamper-log';
let redis: TestRedis;
let admin: Redis;
let ledger: TestLedger;
let names: ReturnType<typeof ledgerKeys>;
let original: [string, string[]][];
let originalHeads: [string, string[]][];
let heads: number[];

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
  await until(async () => (await ledger.store.tip()).signedSeq === 28, 5000, 'a head over the chain');
  await sequencer.stop();
  original = (await admin.xrange(names.chain, '-', '+')) as [string, string[]][];
  originalHeads = (await admin.xrange(names.heads, '-', '+')) as [string, string[]][];
  heads = originalHeads.map(([id]) => parseInt(id));
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

async function firstFailure(): Promise<VerifyFailure | undefined> {
  return (await verifyStore(ledger.store, { suite: nodeCrypto, keys })).failures[0];
}

describe('tampering with the chain stream in Redis', () => {
  beforeEach(async () => {
    await rewrite(original);
    const multi = admin.multi().del(names.heads);
    for (const [id, fields] of originalHeads) multi.xadd(names.heads, id, ...fields);
    await multi.exec();
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
    const seq = [...Array(27).keys()].map((i) => i + 1).find((s) => !heads.includes(s))!;
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

  it('names the first missing record when a signed head claims more than the chain holds', async () => {
    const last = record(27);
    const head = signHead(
      {
        v: '1',
        log: LOG,
        seq: 30,
        event_hash: last.event_hash,
        event_hash_alt: last.event_hash_alt,
        time: '2026-05-12T17:05:00.000Z',
      },
      AUDIT_KID,
      (m) => signSync(auditKey, m),
    );
    await admin.xadd(names.heads, '30-0', 'h', canonicalize(head));
    expect(await firstFailure()).toMatchObject({ code: 'ledger.head.mismatch', seq: 29 });
  });
});
