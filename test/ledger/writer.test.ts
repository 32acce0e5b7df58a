// The writer's batching, failure and lag behaviour (in-memory store; the Redis paths are covered
// by pipeline.test.ts and crash.test.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { GovernanceError, isGovernanceError } from '../../core/errors.js';
import type { LedgerEvent } from '../../core/event.js';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import { TestLedger, ledgerKeys, memoryStores, testEvent, until } from './support.js';

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (e: unknown) => (isGovernanceError(e) ? e.code : String(e)),
  );

describe('ledger writer', () => {
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

  it('rejects a call with an invalid event without failing the others of its turn', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer();
    const bad = { ...testEvent(2), type: 'execution.teleported' } as unknown as LedgerEvent;
    const results = await Promise.all([
      codeOf(writer.appendAndWait([testEvent(1)])),
      codeOf(writer.append([bad])),
      codeOf(writer.appendAndWait([testEvent(3)])),
    ]);
    expect(results).toEqual(['resolved', 'ledger.event.invalid', 'resolved']);
    expect((await ledger.store.tip()).seq).toBe(2);
    await until(() => writer.commitLagMs() === 0, 5000, 'the batch to be proven in a checkpoint');
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
    const pending = codeOf(writer.appendAndWait([testEvent(1)], 10_000));
    await until(() => writer.commitLagMs() > 0, 1000, 'the append');
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
    await until(() => writer.commitLagMs() === 0, 5000, 'the event to be proven in a checkpoint');
    expect(writer.halt()).toBeUndefined();
  });
});

describe('ledger writer: proving its batches in checkpoints', () => {
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
    await writer.appendAndWait([testEvent(1), testEvent(2)]);
    await until(async () => (await honest.tip()).signedSeq === 2, 5000, 'a checkpoint');
    await new Promise((r) => setTimeout(r, 500));
    expect(writer.commitLagMs()).toBeGreaterThan(0);
    shown = true;
    await until(() => writer.commitLagMs() === 0, 5000, 'the batch to be proven in the checkpoint');
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
    await untrusting.appendAndWait([testEvent(1)]);
    await demanding.appendAndWait([testEvent(2)]);
    await until(() => ledger.store.tip().then((t) => t.signedSeq === 2), 5000, 'a checkpoint over both');
    for (const writer of [untrusting, demanding])
      await until(() => writer.halt()?.reason === 'ledger.unavailable', 5000, 'the writer to halt');
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
    await until(async () => (await honest.tip()).signedSeq === 2, 5000, 'a checkpoint over both');
    await new Promise((r) => setTimeout(r, 600));
    release();
    await first;
    // No later checkpoint comes on this quiet log: the one already seen must prove it.
    await until(() => writer.commitLagMs() === 0, 5000, 'the late batch to be proven');
    expect(writer.halt()).toBeUndefined();
  });

  it('halts for good (ledger.batch.missing) when a checkpoint covers its batch without holding it', async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    // The log as this writer reads it back: its second record rewritten (the operator's history
    // differs from what the writer appended), while the checkpoints still verify.
    const honest = ledger.newStore();
    const view: LedgerStore = Object.assign(Object.create(honest) as LedgerStore, {
      records: async (from: number, to: number) =>
        (await honest.records(from, to)).map((r) =>
          r.seq === 2 ? { ...r, text: r.text.replace('req-2', 'req-9') } : r,
        ),
    });
    const writer = await ledger.writer({ store: view, commitWindowMs: 60_000 });
    await writer.append([testEvent(1), testEvent(2)]);
    await until(() => writer.halt()?.reason === 'ledger.batch.missing', 5000, 'the writer to see it');
    expect(writer.batchesMissing()).toBe(1);
    // Nothing later lifts it: the writer signed a batch the log does not hold.
    await writer.appendAndWait([testEvent(3)]);
    await new Promise((r) => setTimeout(r, 500));
    expect(writer.halt()).toMatchObject({ reason: 'ledger.batch.missing' });
  });
});
