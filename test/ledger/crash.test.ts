// Crash safety against a real Redis: a sequencer process killed with SIGKILL in the middle of a
// burst, two sequencer processes racing for the lease (one paused with SIGSTOP until it is stale),
// and Redis itself killed after acknowledged appends (appendfsync always). In every case each
// event is chained exactly once and the chain verifies.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMillis } from '../../core/time.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import type { ChainRecord } from '../../core/event.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import type { LedgerWriter } from '../../ledger/types.js';
import { verifyStore } from '../../ledger/verify.js';
import { createLedgerWriter } from '../../ledger/writer.js';
import { RedisLedgerStore, ledgerKeys } from '../../store/ledger-redis.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import { FsLedgerArchive } from '../../store/archive-fs.js';
import { ArchivedLedgerStore } from '../../store/ledger-archived.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  sequencerDeployment,
  signalAndWait,
  spawnSequencer,
  type SequencerProcess,
} from './sequencer-process.js';
import {
  PRODUCER_ID,
  TestLedger,
  chainedEventCounter,
  ledgerKeys as testKeys,
  redisStores,
  testEvent,
  until,
} from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'ledger-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Appends events 0..total-1 of `producer` from several writers, `perAppend` at a time; returns the
 * request ids whose append was acknowledged. Stops early (without failing) once `stop()` says so.
 */
async function burst(
  writers: LedgerWriter[],
  total: number,
  perAppend: number,
  { producer = PRODUCER_ID, stop = () => false }: { producer?: string; stop?: () => boolean } = {},
) {
  const acknowledged: string[] = [];
  let next = 0;
  await Promise.all(
    writers.map(async (writer) => {
      while (next < total && !stop()) {
        const events = Array.from({ length: Math.min(perAppend, total - next) }, () =>
          // Now: the deployment's producer key is valid from its creation on.
          testEvent(next++, 'execution.denied', { producer, time: formatMillis(Date.now()) }),
        );
        try {
          await writer.append(events);
          acknowledged.push(...events.map((e) => e.request_id!));
        } catch {
          // Not acknowledged: the caller would have denied. It may or may not be chained.
        }
      }
    }),
  );
  return acknowledged;
}

async function chainedRecords(store: LedgerStore): Promise<ChainRecord[]> {
  const reader = new StoreLedgerReader(nodeCrypto, store, { maxRecords: 100_000 });
  const tip = await store.tip();
  return tip.seq === 0 ? [] : reader.range(1, tip.seq);
}

/** Request ids of the chained events in chain order; the test events carry one each. */
const requestIds = (records: ChainRecord[]) => records.flatMap((r) => r.events.map((e) => e.request_id));

describe('sequencer processes (SIGKILL, SIGSTOP)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function setup(name: string) {
    const deployment = sequencerDeployment(join(dir, name), redis.url);
    const prefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
    const settings = { redis: { keyPrefix: prefix }, leaseMs: 1000, headIntervalMs: 200 };
    const stores: LedgerStore[] = [];
    const newStore = () => {
      const store = new RedisLedgerStore({ url: redis.url, log: deployment.log, prefix });
      stores.push(store);
      return store;
    };
    const writers = await Promise.all(
      [1, 2, 3].map(() => createLedgerWriter({ store: newStore(), ...deployment.producer, maxBatch: 32 })),
    );
    const processes: SequencerProcess[] = [];
    return {
      deployment,
      prefix,
      store: newStore(),
      writers,
      processes,
      spawn: async (extra: Record<string, unknown> = {}) => {
        const sequencer = await spawnSequencer(deployment, { ...settings, ...extra });
        processes.push(sequencer);
        return sequencer;
      },
      close: async () => {
        for (const p of processes) await signalAndWait(p.child, 'SIGKILL');
        await Promise.all(writers.map((w) => w.close()));
        await Promise.all(stores.map((s) => s.close()));
      },
    };
  }

  it('loses, duplicates and forks nothing when the sequencer is killed mid-burst and restarted', async () => {
    const ledger = await setup('kill');
    try {
      // The first one opens entries on two worker threads (sequencer/open-pool.ts), the second itself.
      const first = await ledger.spawn({ openWorkers: 2 });
      const chainedCount = chainedEventCounter(ledger.store);
      const appending = burst(ledger.writers, 10_000, 25, { producer: ledger.deployment.producer.subject });
      await until(async () => (await chainedCount()) >= 1500, 30_000, 'the first sequencer to chain');
      await signalAndWait(first.child, 'SIGKILL');
      expect(await chainedCount()).toBeLessThan(10_000);
      await ledger.spawn();
      const acknowledged = await appending;
      expect(acknowledged).toHaveLength(10_000);
      await until(async () => (await chainedCount()) >= 10_000, 60_000, 'the restarted sequencer');
      const { seq } = await ledger.store.tip();
      await until(async () => (await ledger.store.tip()).signedSeq === seq, 30_000, 'a checkpoint over all');
      const records = await chainedRecords(ledger.store);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
      const ids = requestIds(records);
      expect(ids).toHaveLength(10_000);
      expect(new Set(ids)).toEqual(new Set(acknowledged));
      const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledger.deployment.keys });
      expect(result.failures).toEqual([]);
      expect(result).toMatchObject({ ok: true, records: seq });
      await until(
        () => ledger.writers.every((w) => w.commitLagMs() === 0),
        30_000,
        'writers to prove every batch',
      );
    } finally {
      await ledger.close();
    }
    // 10,000 events chained, checkpointed, proven by the writers and verified: behaviour, not speed,
    // so a loaded machine gets the time it needs.
  }, 180_000);

  it('archives and trims exactly once across sequencers killed while archiving (filesystem archive)', async () => {
    const ledger = await setup('archive-kill');
    const archiveDir = join(dir, 'archive-kill-archive');
    mkdirSync(archiveDir);
    const archiving = { ledger: { archive: { type: 'fs', dir: archiveDir }, hotRecords: 256, hotMs: 0 } };
    const view = new ArchivedLedgerStore(ledger.store, new FsLedgerArchive({ dir: archiveDir }));
    try {
      let sequencer = await ledger.spawn(archiving);
      let done = false;
      const appending = burst(ledger.writers, 12_000, 4, { producer: ledger.deployment.producer.subject });
      void appending.finally(() => (done = true));
      // Killed at uneven moments while records are chained, checkpointed, archived and trimmed.
      let kills = 0;
      while (!done || kills < 4) {
        await new Promise((r) => setTimeout(r, 300 + ((kills * 337) % 900)));
        await signalAndWait(sequencer.child, 'SIGKILL');
        kills++;
        sequencer = await ledger.spawn(archiving);
      }
      const acknowledged = await appending;
      expect(acknowledged).toHaveLength(12_000);
      const chainedCount = chainedEventCounter(view);
      await until(async () => (await chainedCount()) >= 12_000, 60_000, 'every event chained');
      const { seq } = await ledger.store.tip();
      const sealed = Math.floor(seq / 256) * 256;
      expect(sealed).toBeGreaterThanOrEqual(2048);
      await until(
        async () => {
          const tip = await ledger.store.tip();
          return tip.signedSeq === seq && tip.archived === sealed && tip.trimmed === sealed - 256;
        },
        60_000,
        'the archive to cover every sealed bundle',
      );
      // Trimmed from Redis, whole in the archive, and read as one log: each event exactly once.
      expect(await ledger.store.records(1, sealed - 256)).toEqual([]);
      const records = await chainedRecords(view);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
      const ids = requestIds(records);
      expect(ids).toHaveLength(12_000);
      expect(new Set(ids)).toEqual(new Set(acknowledged));
      const result = await verifyStore(view, { suite: nodeCrypto, keys: ledger.deployment.keys });
      expect(result.failures).toEqual([]);
      expect(result).toMatchObject({ ok: true, records: seq, events: 12_000 });
      const bundles = await view.archive.list('tile/entries/');
      expect(bundles).toHaveLength(sealed / 256);
      expect(await view.archive.list('checkpoints/')).toHaveLength(sealed / 256);
    } finally {
      await view.archive.close();
      await ledger.close();
    }
  }, 240_000);

  it('lets one of two racing sequencers lead, fails over from a paused one, and fences it', async () => {
    const ledger = await setup('race');
    const admin = new Redis(redis.url);
    const keys = ledgerKeys(ledger.deployment.log, ledger.prefix);
    try {
      const sequencers = await Promise.all([ledger.spawn(), ledger.spawn()]);
      const holder = async () => ((await admin.get(keys.lease)) ?? '').split(':');
      await until(async () => (await holder()).length > 1, 10_000, 'a lease holder');
      const [, leaderPid, , firstFence] = await holder();
      const leader = sequencers.find((s) => String(s.child.pid) === leaderPid)!;
      const follower = sequencers.find((s) => s !== leader)!;
      const appending = burst(ledger.writers, 3000, 20, { producer: ledger.deployment.producer.subject });
      const chainedCount = chainedEventCounter(ledger.store);
      await until(async () => (await chainedCount()) >= 500, 30_000, 'the leader to chain');
      leader.child.kill('SIGSTOP');
      await until(
        async () => (await holder())[1] === String(follower.child.pid),
        10_000,
        'the follower to take over',
      );
      const [, , , secondFence] = await holder();
      expect(Number(secondFence)).toBeGreaterThan(Number(firstFence));
      leader.child.kill('SIGCONT');
      const acknowledged = await appending;
      await until(async () => (await chainedCount()) >= 3000, 60_000, 'all events chained');
      await until(() => /stale|lease lost/.test(leader.output()), 10_000, 'the stale leader to notice');
      expect((await holder())[1]).toBe(String(follower.child.pid));
      const { seq } = await ledger.store.tip();
      await until(async () => (await ledger.store.tip()).signedSeq === seq, 30_000, 'a checkpoint over all');
      const ids = requestIds(await chainedRecords(ledger.store));
      expect(ids).toHaveLength(3000);
      expect(new Set(ids)).toEqual(new Set(acknowledged));
      expect(
        (await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledger.deployment.keys })).failures,
      ).toEqual([]);
    } finally {
      admin.disconnect();
      await ledger.close();
    }
  }, 120_000);
});

describe('Redis killed with SIGKILL (appendonly, appendfsync always)', () => {
  it('keeps every acknowledged append across a restart from the AOF', async () => {
    const redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
    const ledger = new TestLedger(redisStores(redis.url));
    try {
      ledger.sequencer({ log: () => undefined });
      const writers = await Promise.all([1, 2].map(() => ledger.writer({ maxBatch: 32 })));
      let killed = false;
      const appending = burst(writers, 20_000, 25, { stop: () => killed });
      const chainedCount = chainedEventCounter(ledger.store);
      await until(async () => (await chainedCount()) >= 1000, 30_000, 'chaining to start');
      redis.process!.kill('SIGKILL');
      killed = true;
      const acknowledged = await appending;
      expect(acknowledged.length).toBeGreaterThan(1000);
      await redis.restart();
      await until(
        async () => {
          const tip = await ledger.store.tip();
          const backlog = await ledger.store.readIngest('0-0', 1, 0);
          return backlog.length === 0 && tip.seq > 0 && tip.signedSeq === tip.seq;
        },
        30_000,
        'the sequencer to chain the backlog after the restart',
      );
      const ids = requestIds(await chainedRecords(ledger.store));
      expect(new Set(ids).size).toBe(ids.length);
      const chained = new Set(ids);
      expect(acknowledged.filter((id) => !chained.has(id))).toEqual([]);
      const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: testKeys });
      expect(result.failures).toEqual([]);
    } finally {
      await ledger.close();
      await redis.stop();
    }
  });
});
