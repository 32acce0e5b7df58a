// A sequencer that starts leading resumes the chain where the store has it: from the latest
// checkpoint's chain line and the lineage index nodes stored with it, replaying the records
// chained after that checkpoint (sequencer/sequencer.ts resume()). It must continue the very
// chain and index one sequencer without a restart would have built, and refuse to lead when the
// store's tip does not recompute from the records (ledger.hash.mismatch).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { validateEvent, type LedgerEvent } from '../../core/event.js';
import { verifyLineageProof } from '../../core/proofs.js';
import { sealBatch } from '../../ledger/ingest.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { verifyStore } from '../../ledger/verify.js';
import type { CheckpointWitnesses } from '../../sequencer/witnesses.js';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import { RedisLedgerStore, ledgerKeys as redisKeys } from '../../store/ledger-redis.js';
import type { LedgerStore, LedgerTip } from '../../store/ledger-types.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  PRODUCER_KID,
  TestLedger,
  ledgerKeys,
  lineageEvents,
  producerKey,
  testEvent,
  until,
  type StoreFactory,
} from '../ledger/support.js';

const LOG = 'test-log';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** Witnesses that never cosign: a sequencer given them chains records but publishes no checkpoint. */
const silentWitnesses: CheckpointWitnesses = { threshold: 1, cosign: async () => [] };

/** The ingest entry of one producer batch (deterministic: Ed25519 signatures are). */
const entryOf = (events: LedgerEvent[]) =>
  sealBatch(
    nodeCrypto,
    LOG,
    PRODUCER_KID,
    producerKey,
    events.map((e) => validateEvent(e)),
  ).entry;

const [a, b] = [lineageEvents('A'), lineageEvents('B', 100)];
/** Four batches: lineage A runs through all of them, within and across records; B through two. */
const batches: LedgerEvent[][] = [
  [a[0]!, testEvent(200), a[1]!],
  [b[0]!, a[2]!, b[1]!],
  [a[3]!, testEvent(201)],
  [b[2]!, a[4]!, a[5]!],
];

/** A store kind: its factory, and a way to corrupt one field of the tip the sequencer reads. */
interface Backend {
  name: string;
  stores(): StoreFactory;
  /** The store a sequencer reads, with its tip's `field` replaced (undefined: as it is). */
  corrupted(ledger: TestLedger, field: 'eventHash' | 'eventHashAlt'): Promise<LedgerStore>;
}

/** A view of the store whose tip() says another hash: what a tip the records do not recompute to looks like. */
function tipView(store: LedgerStore, field: 'eventHash' | 'eventHashAlt'): LedgerStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'tip')
        return async (): Promise<LedgerTip> => {
          const tip = await target.tip();
          return { ...tip, [field]: tip[field].replace(/.$/, (c) => (c === '0' ? '1' : '0')) };
        };
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const redisPrefixes = new Map<TestLedger, string>();

const backends: Backend[] = [
  {
    name: 'memory',
    stores: () => {
      const store = new MemoryLedgerStore(LOG);
      return () => store;
    },
    corrupted: async (ledger, field) => tipView(ledger.newStore(), field),
  },
  {
    name: 'redis',
    stores: () => {
      const prefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
      const factory = () => new RedisLedgerStore({ url: redis.url, log: LOG, prefix });
      return Object.assign(factory, { prefix });
    },
    // The tip in Redis itself, rewritten.
    corrupted: async (ledger, field) => {
      const prefix = redisPrefixes.get(ledger)!;
      const admin = new Redis(redis.url);
      try {
        const key = redisKeys(LOG, prefix).tip;
        const name = field === 'eventHash' ? 'hash' : 'alt';
        const value = (await admin.hget(key, name))!;
        await admin.hset(
          key,
          name,
          value.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        );
      } finally {
        admin.disconnect();
      }
      return ledger.newStore();
    },
  },
];

for (const backend of backends) {
  describe(`a sequencer resuming on ${backend.name}`, { timeout: 180_000 }, () => {
    let ledgers: TestLedger[] = [];
    afterEach(async () => {
      for (const ledger of ledgers) await ledger.close();
      ledgers = [];
    });

    function newLedger(): TestLedger {
      const stores = backend.stores();
      const ledger = new TestLedger(stores);
      if ('prefix' in stores) redisPrefixes.set(ledger, stores.prefix as string);
      ledgers.push(ledger);
      return ledger;
    }

    /** Appends the batch's entry and waits until its record is chained (record `seq`). */
    async function chain(ledger: TestLedger, events: LedgerEvent[], seq: number): Promise<void> {
      await ledger.store.appendIngest([entryOf(events)]);
      await until(async () => (await ledger.store.tip()).seq === seq, 30_000, `record ${seq}`);
    }

    /**
     * Records 1 and 2 chained under a checkpoint at 1 only (the second leader's checkpoints go
     * unwitnessed), both leaders stopped: the tip is beyond the latest checkpoint.
     */
    async function beyondCheckpoint(): Promise<TestLedger> {
      const ledger = newLedger();
      const first = ledger.sequencer();
      await chain(ledger, batches[0]!, 1);
      await until(async () => (await ledger.store.tip()).signedSeq === 1, 30_000, 'a checkpoint at 1');
      await first.stop();
      const second = ledger.sequencer({ witnesses: silentWitnesses, log: () => undefined });
      await chain(ledger, batches[1]!, 2);
      await chain(ledger, batches[2]!, 3);
      await until(() => second.status().unwitnessed > 0, 30_000, 'a checkpoint to go unpublished');
      await second.stop();
      expect(await ledger.store.tip()).toMatchObject({ seq: 3, signedSeq: 1 });
      return ledger;
    }

    it('continues the chain and index from the latest checkpoint and the records after it', async () => {
      const ledger = await beyondCheckpoint();
      ledger.sequencer();
      await chain(ledger, batches[3]!, 4);
      await until(async () => (await ledger.store.tip()).signedSeq === 4, 30_000, 'a checkpoint at 4');

      // The same records and checkpoint (root, chain, index) as one sequencer that never stopped.
      const reference = newLedger();
      reference.sequencer();
      for (const [i, events] of batches.entries()) await chain(reference, events, i + 1);
      await until(
        async () => (await reference.store.tip()).signedSeq === 4,
        30_000,
        'the reference checkpoint',
      );
      expect(await ledger.store.records(1, 4)).toEqual(await reference.store.records(1, 4));
      const lines = async (store: LedgerStore) => {
        const { size, root, chain, index } = parseCheckpointNote(
          (await store.latestCheckpoint())!.text,
        ).checkpoint;
        return { size, root, chain, index };
      };
      expect(await lines(ledger.store)).toEqual(await lines(reference.store));

      // Record 4 links A and B to their events in the replayed record 3 and record 2.
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      expect((await reader.range(4, 4))[0]!.lineage_prev).toEqual([
        [2, 2],
        [3, 0],
        [4, 1],
      ]);
      const proof = verifyLineageProof(nodeCrypto, await reader.lineageProof('lineage://op/A'), {
        keys: ledgerKeys,
      });
      expect(proof.failures).toEqual([]);
      expect(proof.events.map((e) => [e.seq, e.index])).toEqual([
        [1, 0],
        [1, 2],
        [2, 1],
        [3, 0],
        [4, 1],
        [4, 2],
      ]);
      const verified = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys });
      expect(verified.failures).toEqual([]);
      expect(verified).toMatchObject({ ok: true, records: 4 });
    });

    it('resumes from the genesis when no checkpoint was ever published', async () => {
      const ledger = newLedger();
      const first = ledger.sequencer({ witnesses: silentWitnesses, log: () => undefined });
      await chain(ledger, batches[0]!, 1);
      await chain(ledger, batches[1]!, 2);
      await first.stop();
      expect(await ledger.store.latestCheckpoint()).toBeUndefined();
      ledger.sequencer();
      await chain(ledger, batches[2]!, 3);
      await until(async () => (await ledger.store.tip()).signedSeq === 3, 30_000, 'a checkpoint at 3');
      expect((await new StoreLedgerReader(nodeCrypto, ledger.store).range(3, 3))[0]!.lineage_prev).toEqual([
        [2, 1],
        null,
      ]);
      const verified = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys });
      expect(verified.failures).toEqual([]);
      expect(verified).toMatchObject({ ok: true, records: 3 });
    });

    for (const field of ['eventHash', 'eventHashAlt'] as const) {
      it(`refuses to lead (ledger.hash.mismatch) when the tip's ${field} is not the replayed records'`, async () => {
        const ledger = await beyondCheckpoint();
        const logs: { level: string; message: string }[] = [];
        const sequencer = ledger.sequencer({
          store: await backend.corrupted(ledger, field),
          log: (level, message) => logs.push({ level, message }),
        });
        await ledger.store.appendIngest([entryOf(batches[3]!)]);
        await until(
          () => logs.some((l) => /stopped leading: the chain tip does not match record 3/.test(l.message)),
          30_000,
          'the sequencer to refuse the tip',
        );
        expect(logs.find((l) => /does not match/.test(l.message))?.level).toBe('error');
        // It keeps refusing (each time it takes the lease again), chaining nothing meanwhile.
        await until(
          () => logs.filter((l) => /does not match record 3/.test(l.message)).length >= 2,
          30_000,
          'the sequencer to refuse the tip again',
        );
        expect(sequencer.chained).toBe(0);
        expect((await ledger.store.tip()).seq).toBe(3);
        expect((await ledger.store.latestCheckpoint())?.seq).toBe(1);
      });
    }
  });
}
