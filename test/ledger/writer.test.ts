// The writer's batching, receipts, failure and lag behaviour, and how it proves each batch's
// record in a checkpoint (in-memory store; the Redis paths are covered by pipeline.test.ts and
// crash.test.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { GovernanceError, isGovernanceError } from '../../core/errors.js';
import {
  EVENT_LIMITS,
  recordBytesBound,
  validateEvent,
  type ChainRecord,
  type LedgerEvent,
} from '../../core/event.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import type { Receipt } from '../../ledger/types.js';
import { verifyStore } from '../../ledger/verify.js';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import type { CommitNotice, CommitSubscription, LedgerStore, StoredText } from '../../store/ledger-types.js';
import { PRODUCER_KID, TestLedger, ledgerKeys, memoryStores, testEvent, until } from './support.js';

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (e: unknown) => (isGovernanceError(e) ? e.code : String(e)),
  );

/** How long anything waits at most (a loaded machine); waits end as soon as what they wait for happens. */
const WAIT_MS = 30_000;

/** Every chained record, in seq order. */
async function chainedRecords(store: LedgerStore): Promise<ChainRecord[]> {
  const { seq } = await store.tip();
  return seq === 0 ? [] : new StoreLedgerReader(nodeCrypto, store).range(1, seq);
}

/** The event a receipt points to. */
const eventAt = (records: ChainRecord[], { seq, index }: Receipt) => records[seq - 1]?.events[index];

/** An event of about `kib` KiB: `data` holds that many strings of 500 characters (at most 16 KiB in all). */
const largeEvent = (i: number, kib: number): LedgerEvent =>
  testEvent(i, 'execution.denied', {
    data: Object.fromEntries(
      Array.from({ length: 2 * kib }, (_, k) => [`part${k}`, `${i}`.padEnd(500, '.')]),
    ),
  });

/**
 * The log as an operator that lies about one batch's record serves it to its producer: the commit
 * notices it sends (where the batch was chained, and with which lineage_prev) and the records it
 * serves, both rewritten alike, while the checkpoints' tree holds what was really chained.
 */
function lyingView(
  honest: LedgerStore,
  lie: {
    notice: (notice: CommitNotice) => CommitNotice;
    record: (stored: StoredText) => Promise<StoredText>;
  },
): LedgerStore {
  return Object.assign(Object.create(honest) as LedgerStore, {
    subscribeCommits: async (): Promise<CommitSubscription> => {
      const subscription = await honest.subscribeCommits();
      return {
        next: async (blockMs: number) => (await subscription.next(blockMs)).map(lie.notice),
        close: () => subscription.close(),
      };
    },
    records: async (from: number, to: number) =>
      Promise.all((await honest.records(from, to)).map(lie.record)),
  });
}

describe('ledger writer', { timeout: 120_000 }, () => {
  let ledger: TestLedger;
  afterEach(async () => {
    await ledger.close();
  });

  it('seals everything appended in one turn with one signature, at most maxBatch events each', async () => {
    ledger = new TestLedger(memoryStores());
    const writer = await ledger.writer({ maxBatch: 64 });
    await Promise.all([
      writer.append([testEvent(1)]),
      writer.append([testEvent(2)]),
      writer.append([testEvent(3)]),
    ]);
    await writer.append(Array.from({ length: 150 }, (_, i) => testEvent(10 + i)));
    const entries = await ledger.store.readIngest('0-0', 100, 0);
    const sizes = entries.map((e) => (JSON.parse(e.batch) as { events: unknown[] }).events.length);
    expect(sizes).toEqual([3, 64, 64, 22]);
  });

  it('ends a batch where its record would exceed EVENT_LIMITS.recordBytes, and chains every event in order', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer();
    // 2 to 15 KiB each, about 500 KiB in all: one turn, far fewer events than maxBatch.
    const events = Array.from({ length: 60 }, (_, i) => largeEvent(i, 1 + ((i * 7) % 15)));
    const receipts = await writer.appendAndWait(events, WAIT_MS);
    const records = await chainedRecords(ledger.store);
    const stored = await ledger.store.records(1, records.length);
    expect(records.length).toBeGreaterThan(5);
    for (const { text } of stored)
      expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(EVENT_LIMITS.recordBytes);
    // Each batch ended only where the next event would not have fitted (within the bound the
    // writer sizes by, which allows for the largest seq and lineage_prev entries).
    const bytes = (event: LedgerEvent) => validateEvent(event).length;
    for (const [r, record] of records.slice(0, -1).entries()) {
      const arrayBytes = record.events.reduce((n, e) => n + bytes(e) + 1, 1);
      const next = bytes(records[r + 1]!.events[0]!);
      expect(
        recordBytesBound(arrayBytes + next + 1, record.events.length + 1, PRODUCER_KID.length),
      ).toBeGreaterThan(EVENT_LIMITS.recordBytes);
    }
    const chained = records.flatMap((r) => r.events);
    expect(chained.map((e) => e.request_id)).toEqual(events.map((e) => e.request_id));
    expect(receipts.map((r) => eventAt(records, r)?.request_id)).toEqual(events.map((e) => e.request_id));
    await until(() => writer.commitLagMs() === 0, WAIT_MS, 'every batch to be proven in a checkpoint');
    const verified = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys });
    expect(verified.failures).toEqual([]);
    expect(verified).toMatchObject({ ok: true, records: records.length });
  });

  it('answers each event with a receipt {seq, index}: its record and its place in it', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer();
    const receipts = await writer.appendAndWait([testEvent(1), testEvent(2), testEvent(3)], WAIT_MS);
    expect(receipts).toEqual([
      { seq: 1, index: 0 },
      { seq: 1, index: 1 },
      { seq: 1, index: 2 },
    ]);
    expect(await writer.appendAndWait([testEvent(4)], WAIT_MS)).toEqual([{ seq: 2, index: 0 }]);
  });

  it('gives the calls sharing a batch, or split over batches, the receipts of their own events', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer({ maxBatch: 4 });
    const calls = [
      [testEvent(1), testEvent(2), testEvent(3)],
      [testEvent(4), testEvent(5), testEvent(6), testEvent(7)],
      [testEvent(8), testEvent(9)],
    ];
    const receipts = await Promise.all(calls.map((events) => writer.appendAndWait(events, WAIT_MS)));
    const records = await chainedRecords(ledger.store);
    expect(records.length).toBeGreaterThanOrEqual(3);
    for (const record of records) expect(record.events.length).toBeLessThanOrEqual(4);
    receipts.forEach((got, c) =>
      expect(got.map((r) => eventAt(records, r)?.request_id)).toEqual(calls[c]!.map((e) => e.request_id)),
    );
    // In the order appended: the first call's events first, the second's split over two records.
    expect(receipts[0]).toEqual([
      { seq: 1, index: 0 },
      { seq: 1, index: 1 },
      { seq: 1, index: 2 },
    ]);
    expect(receipts[1]![0]).toEqual({ seq: 1, index: 3 });
    expect(receipts[1]!.slice(1).map((r) => r.seq)).toEqual([2, 2, 2]);
    const order = receipts.flat().map(({ seq, index }) => seq * 10_000 + index);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('rejects a call with an invalid event without failing the others of its turn', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer();
    const bad = { ...testEvent(2), type: 'execution.teleported' } as unknown as LedgerEvent;
    const first = writer.appendAndWait([testEvent(1)], WAIT_MS);
    const results = await Promise.all([
      codeOf(first),
      codeOf(writer.append([bad])),
      codeOf(writer.appendAndWait([testEvent(3)], WAIT_MS)),
    ]);
    expect(results).toEqual(['resolved', 'ledger.event.invalid', 'resolved']);
    // The two valid calls share one batch: one record.
    expect((await ledger.store.tip()).seq).toBe(1);
    const [record] = await chainedRecords(ledger.store);
    expect(record!.events.map((e) => e.request_id)).toEqual(['req-1', 'req-3']);
    await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the batch to be proven in a checkpoint');
  });

  it('fails closed when the store fails, and when nothing chains in time', async () => {
    ledger = new TestLedger(memoryStores());
    const failing = new MemoryLedgerStore('test-log');
    failing.appendIngest = () => Promise.reject(new GovernanceError('ledger.unavailable', 'store down'));
    const broken = await ledger.writer({ store: failing });
    expect(await codeOf(broken.append([testEvent(1)]))).toBe('ledger.unavailable');
    const waiting = await ledger.writer();
    expect(await codeOf(waiting.appendAndWait([testEvent(2)], 100))).toBe('ledger.unavailable');
  });

  it('rejects what still waits when closed, and every append after', async () => {
    ledger = new TestLedger(memoryStores());
    const writer = await ledger.writer();
    const pending = codeOf(writer.appendAndWait([testEvent(1)], WAIT_MS));
    await until(() => writer.commitLagMs() > 0, WAIT_MS, 'the append');
    await writer.close();
    expect(await pending).toBe('ledger.unavailable');
    expect(await codeOf(writer.append([testEvent(2)]))).toBe('ledger.unavailable');
  });

  it('counts lag from the oldest unchained event, including one still being written', async () => {
    let now = 1_000_000;
    ledger = new TestLedger(memoryStores());
    const writer = await ledger.writer({ now: () => now, commitWindowMs: 2000 });
    expect(writer.commitLagMs()).toBe(0);
    void writer.append([testEvent(1)]);
    now += 1500;
    expect(writer.commitLagMs()).toBe(1500);
    expect(writer.halt()).toBeUndefined();
    now += 600;
    expect(writer.halt()).toMatchObject({ reason: 'ledger.unavailable' });
    ledger.sequencer();
    await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the event to be proven in a checkpoint');
    expect(writer.halt()).toBeUndefined();
  });
});

describe('ledger writer: proving its batches in checkpoints', { timeout: 120_000 }, () => {
  let ledger: TestLedger;
  afterEach(async () => {
    await ledger.close();
  });

  it('counts a chained batch as lag until a checkpoint it trusts proves it', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    // The writer sees no checkpoint until the test lets it.
    const honest = ledger.newStore();
    let shown = false;
    const view: LedgerStore = Object.assign(Object.create(honest) as LedgerStore, {
      latestCheckpoint: async () => (shown ? honest.latestCheckpoint() : undefined),
    });
    const writer = await ledger.writer({ store: view, commitWindowMs: 60_000 });
    await writer.appendAndWait([testEvent(1), testEvent(2)], WAIT_MS);
    // One batch, one record.
    await until(async () => (await honest.tip()).signedSeq === 1, WAIT_MS, 'a checkpoint');
    await new Promise((r) => setTimeout(r, 500));
    expect(writer.commitLagMs()).toBeGreaterThan(0);
    shown = true;
    await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the batch to be proven in the checkpoint');
    expect(writer.halt()).toBeUndefined();
  });

  it('proves nothing with a checkpoint no trusted audit key signed, nor one short of its witnesses', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const untrusting = await ledger.writer({
      commitWindowMs: 800,
      checkpoints: { auditKeys: () => new Map() },
    });
    const demanding = await ledger.writer({
      commitWindowMs: 800,
      checkpoints: {
        auditKeys: () => ledgerKeys.audit,
        witnesses: {
          threshold: 1,
          witnesses: [{ name: 'witness.example/w1', publicKey: new Uint8Array(32) }],
        },
      },
    });
    await untrusting.appendAndWait([testEvent(1)], WAIT_MS);
    await demanding.appendAndWait([testEvent(2)], WAIT_MS);
    await until(() => ledger.store.tip().then((t) => t.signedSeq === 2), WAIT_MS, 'a checkpoint over both');
    for (const writer of [untrusting, demanding]) {
      await until(() => writer.halt()?.reason === 'ledger.unavailable', WAIT_MS, 'the writer to halt');
      // Not proven, and not missing either: such a checkpoint says nothing of its batch.
      expect(writer.batchesMissing()).toBe(0);
    }
  });

  it('proves a batch whose commit notice arrives after the checkpoint that covers it', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    // The reply to the first ingest append is held back (a slow round trip under load) until the
    // batch is chained, a later batch too, and a checkpoint covers both: the writer learns the
    // first batch's position only after it has proven the second one in that checkpoint.
    const honest = ledger.newStore();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    const view: LedgerStore = Object.assign(Object.create(honest) as LedgerStore, {
      appendIngest: async (texts: string[]) => {
        const ids = await honest.appendIngest(texts);
        if (calls++ === 0) await held;
        return ids;
      },
    });
    const writer = await ledger.writer({ store: view, commitWindowMs: 60_000 });
    const first = writer.append([testEvent(1)]);
    await new Promise((r) => setImmediate(r));
    await writer.append([testEvent(2)]);
    await until(async () => (await honest.tip()).signedSeq === 2, WAIT_MS, 'a checkpoint over both');
    await new Promise((r) => setTimeout(r, 600));
    release();
    await first;
    // No later checkpoint comes on this quiet log: the one already seen must prove it.
    await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the late batch to be proven');
    expect(writer.halt()).toBeUndefined();
  });

  /**
   * What the producer is told of its batch (record 2, between other producers' records 1 and 3),
   * or the tree it is shown: none of them is the batch's record in the checkpoint's tree. The
   * record the writer then looks for, and fails to find.
   */
  const tampered: [string, (honest: LedgerStore) => LedgerStore, number][] = [
    [
      'its record rewritten (another lineage_prev)',
      (honest) =>
        lyingView(honest, {
          notice: (n) => ('seq' in n && n.seq === 2 ? { ...n, lineagePrev: '[[1,0],null]' } : n),
          record: async (r) =>
            r.seq === 2
              ? { ...r, text: r.text.replace('"lineage_prev":[null,null]', '"lineage_prev":[[1,0],null]') }
              : r,
        }),
      2,
    ],
    [
      'its record said to be another (record 3, another producer’s)',
      (honest) =>
        lyingView(honest, {
          notice: (n) => ('seq' in n && n.seq === 2 ? { ...n, seq: 3 } : n),
          record: async (r) => {
            if (r.seq !== 3) return r;
            const [batch] = await honest.records(2, 2);
            return { seq: 3, text: batch!.text.replace('"seq":2,', '"seq":3,') };
          },
        }),
      3,
    ],
    [
      "a tree that does not hold its record (the checkpoint's tiles altered)",
      (honest) =>
        Object.assign(Object.create(honest) as LedgerStore, {
          tiles: async (keys: string[]) =>
            (await honest.tiles(keys)).map((tile) => tile?.map((byte) => byte ^ 0xff)),
        }),
      2,
    ],
  ];

  for (const [what, tamper, seq] of tampered) {
    it(`halts for good (ledger.batch.missing) when a checkpoint covers its batch without holding it: ${what}`, async () => {
      ledger = new TestLedger(memoryStores());
      ledger.sequencer();
      const others = await ledger.writer();
      await others.appendAndWait([testEvent(0)], WAIT_MS);
      const writer = await ledger.writer({ store: tamper(ledger.newStore()), commitWindowMs: 60_000 });
      await writer.append([testEvent(1), testEvent(2)]);
      await until(async () => (await ledger.store.tip()).seq === 2, WAIT_MS, 'the batch to be chained');
      await others.appendAndWait([testEvent(5)], WAIT_MS);
      await until(() => writer.halt()?.reason === 'ledger.batch.missing', WAIT_MS, 'the writer to see it');
      expect(writer.halt()!.message).toMatch(new RegExp(`does not hold the batch chained as record ${seq} `));
      expect(writer.batchesMissing()).toBe(1);
      // Nothing later lifts it: the writer signed a batch the log does not hold.
      await writer.append([testEvent(3)]);
      await until(async () => (await ledger.store.tip()).signedSeq === 4, WAIT_MS, 'a later checkpoint');
      await new Promise((r) => setTimeout(r, 500));
      expect(writer.halt()).toMatchObject({ reason: 'ledger.batch.missing' });
      expect(writer.batchesMissing()).toBe(1);
    });
  }

  it("proves each producer's batches in the records and checkpoints they share with others", async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const [one, two] = [await ledger.writer(), await ledger.writer()];
    await Promise.all([
      one.appendAndWait([testEvent(1), testEvent(2)], WAIT_MS),
      two.appendAndWait([testEvent(3)], WAIT_MS),
      one.appendAndWait([testEvent(4)], WAIT_MS),
    ]);
    for (const writer of [one, two])
      await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the batches to be proven');
    expect([one.halt(), two.halt()]).toEqual([undefined, undefined]);
    expect([one.batchesMissing(), two.batchesMissing()]).toEqual([0, 0]);
  });
});
