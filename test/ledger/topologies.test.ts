// The ledger on Redis Cluster and Redis Sentinel, on real local servers: the sequencer process
// (sequencer/main.ts, configured by REDIS_MODE…) chains what writers append, each event
// exactly once, under heads it publishes only once a replica holds their records (WAIT); WAIT
// reaches the master that owns the ledger's slot, and after a Sentinel failover the new master.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMillis } from '../../core/time.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError } from '../../core/errors.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import type { LedgerWriter } from '../../ledger/types.js';
import { verifyStore } from '../../ledger/verify.js';
import { createLedgerWriter } from '../../ledger/writer.js';
import { ledgerKeys, RedisLedgerStore } from '../../store/ledger-redis.js';
import { hashSlot, type RedisConfig } from '../../store/redis-connection.js';
import {
  adminConnection,
  haveRedisTools,
  startCluster,
  startSentinel,
  type LocalCluster,
  type LocalSentinel,
} from '../support/redis-topology.js';
import {
  sequencerDeployment,
  signalAndWait,
  spawnSequencer,
  type SequencerDeployment,
} from './sequencer-process.js';
import {
  TestLedger,
  chainedEventCounter,
  chainedEvents,
  ledgerKeys as testLedgerKeys,
  lineageEvents,
  testEvent,
  until,
} from './support.js';
import { logOfLineage, routedLedgerWriter } from '../../ledger/routed-writer.js';
import { verifyLineageProof } from '../../core/proofs.js';

const dir = mkdtempSync(join(tmpdir(), 'ledger-topologies-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const prefixed = () => `t${randomBytes(4).toString('hex')}:`;
const slotOf = (log: string) => hashSlot(ledgerKeys(log).tip);

/** A ledger under test on one Redis config: its stores and writers, all closed by close(). */
class Ledger {
  private readonly stores: RedisLedgerStore[] = [];
  private readonly writers: LedgerWriter[] = [];
  readonly store: RedisLedgerStore;

  constructor(
    readonly redis: RedisConfig,
    readonly log: string,
    private readonly deployment?: SequencerDeployment,
  ) {
    this.store = this.newStore();
  }

  newStore(replicas = 0, replicaTimeoutMs = 500): RedisLedgerStore {
    const store = new RedisLedgerStore({ redis: this.redis, log: this.log, replicas, replicaTimeoutMs });
    this.stores.push(store);
    return store;
  }

  async writer(replicas: number): Promise<LedgerWriter> {
    const writer = await createLedgerWriter({
      store: this.newStore(replicas),
      ...this.deployment!.producer,
      maxBatch: 16,
    });
    this.writers.push(writer);
    return writer;
  }

  /** Waits until at least `atLeast` events are chained, every ingest entry is, and a head covers the tip. */
  async settle(what: string, atLeast: number): Promise<void> {
    const chained = chainedEventCounter(this.store);
    await until(
      async () => {
        // Reads fail while a failover is under way: not settled yet.
        const tip = await this.store.tip().catch(() => undefined);
        if (tip === undefined || tip.signedSeq !== tip.seq) return false;
        if ((await chained().catch(() => 0)) < atLeast) return false;
        const pending = await this.store.readIngest(tip.ingestId, 1, 0).catch(() => undefined);
        return pending?.length === 0;
      },
      30_000,
      what,
    );
  }

  /** The request id of every chained event, in chain order (record seq, then index). */
  async chainedRequestIds(): Promise<string[]> {
    const tip = await this.store.tip();
    const records = await new StoreLedgerReader(nodeCrypto, this.store, { maxRecords: 100_000 }).range(
      1,
      tip.seq,
    );
    return records.flatMap((r) => r.events.map((e) => e.request_id!));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.writers.map((w) => Promise.race([w.close(), new Promise((r) => setTimeout(r, 2000))])),
    );
    await Promise.all(this.stores.map((s) => s.close()));
  }
}

let next = 0;

/**
 * Appends `count` events of `producer` from the writers, a few per call; returns the request ids acknowledged.
 * Failed appends are retried with new events until `count` are acknowledged (a failover makes
 * some fail): an unacknowledged event may or may not be chained, never twice.
 */
async function append(
  writers: LedgerWriter[],
  count: number,
  producer: string,
): Promise<{ acknowledged: string[]; failed: number }> {
  const acknowledged: string[] = [];
  let failed = 0;
  await Promise.all(
    writers.map(async (writer) => {
      while (acknowledged.length < count) {
        const events = Array.from({ length: 5 }, () =>
          testEvent(next++, 'execution.denied', { producer, time: formatMillis(Date.now()) }),
        );
        try {
          await writer.append(events);
          acknowledged.push(...events.map((e) => e.request_id!));
        } catch {
          failed++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }),
  );
  return { acknowledged, failed };
}

/** Every acknowledged event chained once, no event chained twice, and the whole chain verifies. */
async function expectChained(ledger: Ledger, deployment: SequencerDeployment, acknowledged: string[]) {
  const { seq } = await ledger.store.tip();
  const ids = await ledger.chainedRequestIds();
  expect(new Set(ids).size).toBe(ids.length);
  const chained = new Set(ids);
  expect(acknowledged.filter((id) => !chained.has(id))).toEqual([]);
  const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: deployment.keys });
  expect(result.failures).toEqual([]);
  expect(result).toMatchObject({ ok: true, records: seq });
}

describe.skipIf(!haveRedisTools)('the ledger on a Redis Cluster (needs redis-server, redis-cli)', () => {
  let cluster: LocalCluster;
  let deployment: SequencerDeployment;
  /** The master owning the deployment log's slot, which alone has a replica. */
  let replicatedMaster: number;
  beforeAll(async () => {
    deployment = sequencerDeployment(join(dir, 'cluster'), 'redis://unused.invalid:6379');
    cluster = await startCluster();
    replicatedMaster = await cluster.ownerOf(slotOf(deployment.log));
    await cluster.addReplica(replicatedMaster);
  }, 60_000);
  afterAll(() => cluster?.stop());

  it("sends WAIT to the master that owns the ledger's slot, and to no other", async () => {
    // Logs on the replicated master and on each of the others.
    const logs = new Map<number, string>();
    for (let i = 0; logs.size < cluster.masters.length; i++) {
      const log = `wait-${i}`;
      const owner = await cluster.ownerOf(slotOf(log));
      if (!logs.has(owner)) logs.set(owner, log);
    }
    for (const [owner, log] of logs) {
      const ledger = new Ledger(cluster.config(prefixed()), log);
      try {
        const store = ledger.newStore(1, 200);
        const lease = (await store.acquireLease('seq', 10_000))!;
        for (let round = 0; round < 2; round++) {
          const appended = await store.appendIngest([`b${round}`]).catch((e: unknown) => e);
          const head = await store
            .commit({
              lease,
              expect: { seq: round, eventHash: round === 0 ? '' : `h${round}` },
              records: [`r${round + 1}`],
              eventHash: `h${round + 1}`,
              eventHashAlt: `a${round + 1}`,
              consumed: [],
              batches: [],
              tiles: new Map(),
            })
            .then(() =>
              store.publishCheckpoint(lease, {
                seq: round + 1,
                eventHash: `h${round + 1}`,
                text: 'head',
                index: { top: new Map(), leaves: [] },
              }),
            )
            .catch((e: unknown) => e);
          if (owner === replicatedMaster) {
            expect(appended, `log ${log} on ${owner}`).toHaveLength(1);
            expect(head, `log ${log} on ${owner}`).toBeUndefined();
          } else {
            for (const outcome of [appended, head]) {
              expect(isGovernanceError(outcome, 'ledger.unavailable'), `log ${log} on ${owner}`).toBe(true);
              expect((outcome as Error).message).toContain('only 0 of 1 replicas acknowledged');
            }
          }
        }
        expect((await store.latestCheckpoint())?.seq).toBe(owner === replicatedMaster ? 2 : undefined);
      } finally {
        await ledger.close();
      }
    }
  });

  it('chains what two writers append, exactly once, with the sequencer process on the Cluster', async () => {
    const prefix = prefixed();
    const ledger = new Ledger(cluster.config(prefix), deployment.log, deployment);
    const sequencer = await spawnSequencer(
      deployment,
      { redis: { keyPrefix: prefix }, leaseMs: 1000, headIntervalMs: 200, ledger: { replicas: 1 } },
      {
        REDIS_URL: '',
        REDIS_MODE: 'cluster',
        REDIS_CLUSTER_NODES: cluster.masters.map((n) => `${n.host}:${n.port}`).join(','),
      },
    );
    try {
      const writers = [await ledger.writer(1), await ledger.writer(0)];
      const { acknowledged, failed } = await append(writers, 400, deployment.producer.subject);
      expect(failed).toBe(0);
      await ledger.settle('the sequencer to chain and sign everything', acknowledged.length);
      await expectChained(ledger, deployment, acknowledged);
      const receipts = await writers[0]!.appendAndWait(
        [
          testEvent(next++, 'execution.denied', {
            producer: deployment.producer.subject,
            time: formatMillis(Date.now()),
          }),
        ],
        10_000,
      );
      expect(receipts).toHaveLength(1);
      // Every ledger key lives on the owner of the log's slot.
      const owner = adminConnection(replicatedMaster);
      try {
        const keys = await owner.keys(`${prefix}{gov:ledger:*`);
        expect(keys.length).toBeGreaterThan(5);
        expect(new Set(keys.map(hashSlot))).toEqual(new Set([slotOf(deployment.log)]));
      } finally {
        owner.disconnect();
      }
    } finally {
      await signalAndWait(sequencer.child, 'SIGTERM');
      await ledger.close();
    }
    expect(sequencer.output()).not.toMatch(/"level":50/);
  });

  it('runs partitioned logs on different masters, a lineage in one log only, each log verifying on its own', async () => {
    // One log per master: each log's hash tag puts all its keys, scripts and blocking reads on
    // the master that owns its slot (docs/spec/ledger.md §14).
    const logs = new Map<number, string>();
    for (let i = 0; logs.size < cluster.masters.length; i++) {
      const log = `tenant-${i}`;
      const owner = await cluster.ownerOf(slotOf(log));
      if (!logs.has(owner)) logs.set(owner, log);
    }
    const prefix = prefixed();
    const ledgers = [...logs].map(
      ([owner, log]) =>
        [
          owner,
          log,
          new TestLedger(() => new RedisLedgerStore({ redis: cluster.config(prefix), log })),
        ] as const,
    );
    try {
      // One producer, a writer per log: each operation's seven events go to its lineage's log.
      const writers = new Map<string, LedgerWriter>();
      for (const [, log, ledger] of ledgers) {
        ledger.sequencer();
        writers.set(log, await ledger.writer({ maxBatch: 8 }));
      }
      const routed = routedLedgerWriter(nodeCrypto, writers);
      const operations = Array.from({ length: 24 }, (_, i) => `op-${i}`);
      const receipts = await Promise.all(
        operations.map((op, i) => routed.appendAndWait(lineageEvents(op, i * 7), 30_000)),
      );
      const logOf = (op: string) => logOfLineage(nodeCrypto, [...writers.keys()], `lineage://op/${op}`);
      operations.forEach((op, i) =>
        expect(new Set(receipts[i]!.map((r) => r.log))).toEqual(new Set([logOf(op)])),
      );
      await Promise.all(
        ledgers.map(([, log, ledger]) =>
          until(
            async () => {
              const tip = await ledger.store.tip();
              return tip.seq > 0 && tip.signedSeq === tip.seq;
            },
            30_000,
            `log ${log} checkpointed`,
          ),
        ),
      );
      for (const [owner, log, ledger] of ledgers) {
        // Each log holds whole lineages, those routed to it, and verifies on its own.
        const mine = operations.filter((op) => logOf(op) === log);
        expect(mine.length).toBeGreaterThan(0);
        const events = (await chainedEvents(ledger.store)).map((e) => e.event);
        expect(events).toHaveLength(7 * mine.length);
        expect(new Set(events.map((e) => e.lineage))).toEqual(
          new Set(mine.map((op) => `lineage://op/${op}`)),
        );
        const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: testLedgerKeys });
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, log, events: 7 * mine.length });
        // A lineage proves whole in its log, and absent from the others.
        const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
        for (const op of operations.slice(0, 6)) {
          const proof = verifyLineageProof(nodeCrypto, await reader.lineageProof(`lineage://op/${op}`), {
            keys: testLedgerKeys,
          });
          expect(proof.failures).toEqual([]);
          expect(proof.events).toHaveLength(logOf(op) === log ? 7 : 0);
        }
        const admin = adminConnection(owner);
        try {
          const keys = await admin.keys(`${prefix}{gov:ledger:${log}}*`);
          expect(keys.length).toBeGreaterThan(5);
        } finally {
          admin.disconnect();
        }
      }
      // Three logs, three masters.
      expect(new Set(ledgers.map(([owner]) => owner)).size).toBe(3);
    } finally {
      await Promise.all(ledgers.map(([, , ledger]) => ledger.close()));
    }
  });
});

describe.skipIf(!haveRedisTools)('the ledger through Redis Sentinel (needs redis-server, redis-cli)', () => {
  let sentinel: LocalSentinel;
  let deployment: SequencerDeployment;
  beforeAll(async () => {
    deployment = sequencerDeployment(join(dir, 'sentinel'), 'redis://unused.invalid:6379');
    sentinel = await startSentinel({ replicas: 1 });
  }, 60_000);
  afterAll(() => sentinel?.stop());

  it('chains what writers append exactly once with the sequencer process, also across a failover', async () => {
    const prefix = prefixed();
    const ledger = new Ledger(sentinel.config(prefix), deployment.log, deployment);
    const sequencer = await spawnSequencer(
      deployment,
      { redis: { keyPrefix: prefix }, leaseMs: 1000, headIntervalMs: 200, ledger: { replicas: 1 } },
      {
        REDIS_URL: '',
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: `127.0.0.1:${sentinel.sentinelPort}`,
        REDIS_SENTINEL_NAME: sentinel.name,
      },
    );
    try {
      const writers = [await ledger.writer(1), await ledger.writer(1)];
      const before = await append(writers, 200, deployment.producer.subject);
      expect(before.failed).toBe(0);
      await ledger.settle('the sequencer to chain and sign everything', before.acknowledged.length);

      // The replica becomes the master; the old master, once the Sentinel reconfigures it, its
      // replica. Until then WAIT fails on either (neither has a replica in sync): appends fail.
      const admin = adminConnection(sentinel.sentinelPort);
      try {
        // Refused (NOGOODSLAVE) until the Sentinel has fresh INFO from the replica.
        await until(
          () =>
            admin.call('SENTINEL', 'FAILOVER', sentinel.name).then(
              () => true,
              () => false,
            ),
          10_000,
          'the Sentinel to accept a failover',
        );
      } finally {
        admin.disconnect();
      }
      const promoted = sentinel.replicaPorts[0]!;
      await until(async () => (await sentinel.currentMasterPort()) === promoted, 20_000, 'the failover');
      // What the Sentinel does to the old master some 10 s later, done now.
      const old = adminConnection(sentinel.masterPort);
      try {
        await old.call('REPLICAOF', '127.0.0.1', String(promoted));
      } finally {
        old.disconnect();
      }
      const after = await append(writers, 200, deployment.producer.subject);
      const total = before.acknowledged.length + after.acknowledged.length;
      await ledger.settle('the sequencer to chain and sign everything after the failover', total);
      await expectChained(ledger, deployment, [...before.acknowledged, ...after.acknowledged]);
      // Appends acknowledged after the failover were confirmed by WAIT on the new master: it
      // holds every record, and in them every acknowledged event.
      const master = adminConnection(promoted);
      const direct = new RedisLedgerStore({
        url: `redis://127.0.0.1:${promoted}`,
        log: deployment.log,
        prefix,
      });
      try {
        expect((await master.info('replication')).match(/role:(\w+)/)?.[1]).toBe('master');
        const held = new Set((await chainedEvents(direct)).map(({ event }) => event.request_id));
        expect([...before.acknowledged, ...after.acknowledged].filter((id) => !held.has(id))).toEqual([]);
        expect(held.size).toBeGreaterThanOrEqual(total);
      } finally {
        master.disconnect();
        await direct.close();
      }
    } finally {
      await signalAndWait(sequencer.child, 'SIGTERM');
      await ledger.close();
    }
  }, 60_000);
});
