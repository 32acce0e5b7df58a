// With replicas configured, an ingest append is acknowledged, and a head published, only once a
// replica has the writes (WAIT): a failover then cannot lose an acknowledged event or a record a
// published head covers; and only a WAIT on the connection that made the writes counts. Two real
// redis-servers, one replicating the other (Sentinel and Cluster: topologies.test.ts).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { parseConfig as parseAuthorityConfig } from '../../authority/config.js';
import { parseConfig as parseAuthzConfig } from '../../authz-server/config.js';
import { openAuthzRedisStores } from '../../authz-server/service.js';
import { writeDevDeployment } from '../../devkit/dev-deployment.js';
import { openServiceRedisStores } from '../../service/stores.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from './support.js';

describe('Redis ledger store with a replica', () => {
  let primary: TestRedis;
  let replica: TestRedis;
  let store: RedisLedgerStore;
  beforeAll(async () => {
    [primary, replica] = await Promise.all([startRedis({ local: true }), startRedis({ local: true })]);
    const client = new Redis(replica.url);
    const { port } = new URL(primary.url);
    // The first sync starts at once (the default waits 5 s for more replicas to join).
    const admin = new Redis(primary.url);
    await admin.config('SET', 'repl-diskless-sync-delay', '0');
    admin.disconnect();
    await client.call('REPLICAOF', '127.0.0.1', port);
    await until(
      async () => /master_link_status:up/.test(await client.info('replication')),
      10_000,
      'the replica',
    );
    client.disconnect();
    store = new RedisLedgerStore({
      url: primary.url,
      log: 'replicated',
      replicas: 1,
      replicaTimeoutMs: 1000,
    });
  });
  afterAll(async () => {
    await store?.close();
    await replica?.stop();
    await primary?.stop();
  });

  it('never lets a WAIT on a new connection confirm writes made on an earlier one', async () => {
    const reconnecting = new RedisLedgerStore({
      url: primary.url,
      log: 'reconnected',
      replicas: 1,
      replicaTimeoutMs: 3000,
    });
    const admin = new Redis(primary.url);
    try {
      const lease = (await reconnecting.acquireLease('seq', 10_000))!;
      replica.process!.kill('SIGSTOP');
      await reconnecting.commit({
        lease,
        expect: { seq: 0, eventHash: '' },
        records: ['r1'],
        eventHash: 'h1',
        eventHashAlt: 'a1',
        consumed: [],
        batches: [],
        tiles: new Map(),
      });
      // The store's connections close and reopen. On the new one, WAIT counts from that
      // connection's own last write (Redis 7.2 and later: none yet, so it would count the paused
      // replica at once; 7.0 counts from its last command of any kind): refused in any case.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await until(
        () =>
          reconnecting.tip().then(
            ({ seq }) => seq === 1,
            () => false,
          ),
        5000,
        'a new connection',
      );
      const head = await reconnecting
        .publishCheckpoint(lease, {
          seq: 1,
          eventHash: 'h1',
          text: 'head-1',
          index: { top: new Map(), leaves: [] },
        })
        .catch((e: unknown) => e);
      expect(isGovernanceError(head, 'ledger.unavailable'), String(head)).toBe(true);
      expect((head as Error).message).toMatch(/changed since the writes/);
      expect(await reconnecting.latestCheckpoint()).toBeUndefined();
      // A write on the new connection, then WAIT covers the commit too (same master, later offset);
      // the resumed replica may take a moment to acknowledge on a busy machine (3 s allowed).
      replica.process!.kill('SIGCONT');
      expect(await reconnecting.renewLease(lease, 10_000)).toBe(true);
      await reconnecting.publishCheckpoint(lease, {
        seq: 1,
        eventHash: 'h1',
        text: 'head-1',
        index: { top: new Map(), leaves: [] },
      });
      expect((await reconnecting.latestCheckpoint())?.text).toBe('head-1');
    } finally {
      replica.process!.kill('SIGCONT');
      admin.disconnect();
      await reconnecting.close();
    }
  });

  it("takes the services' ledger.replicas from their configuration (enforcement point and authority)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-replicas-'));
    const deployment = writeDevDeployment(dir, { redisUrl: primary.url });
    const logger = pino({ level: 'silent' });
    const withReplicas = (file: string) => {
      const raw = parseYaml(readFileSync(file, 'utf8')) as { ledger?: object };
      return { ...raw, ledger: { ...raw.ledger, replicas: 1, replicaTimeoutMs: 1000 } };
    };
    const opened = [
      await openAuthzRedisStores(parseAuthzConfig(withReplicas(deployment.files.authzConfig)), logger),
      await openServiceRedisStores(
        parseAuthorityConfig(withReplicas(deployment.files.authorityConfig)),
        logger,
      ),
    ];
    try {
      for (const { ledger } of opened) expect(await ledger.appendIngest(['acknowledged'])).toHaveLength(1);
      replica.process!.kill('SIGSTOP');
      for (const { ledger } of opened) {
        const append = await ledger.appendIngest(['unacknowledged']).catch((e: unknown) => e);
        expect(isGovernanceError(append, 'ledger.unavailable'), String(append)).toBe(true);
      }
    } finally {
      replica.process!.kill('SIGCONT');
      for (const stores of opened) await stores.close();
    }
    // Without the setting nothing waits for a replica (0, the default).
    expect(
      parseAuthzConfig(parseYaml(readFileSync(deployment.files.authzConfig, 'utf8'))).ledger.replicas,
    ).toBe(0);
  });

  it('acknowledges once the replica has the writes, and fails closed when it does not', async () => {
    const lease = (await store.acquireLease('seq', 10_000))!;
    const [id] = await store.appendIngest(['batch']);
    await store.commit({
      lease,
      expect: { seq: 0, eventHash: '' },
      records: ['r1'],
      eventHash: 'h1',
      eventHashAlt: 'a1',
      consumed: [{ ingestId: id!, seq: 1, lineagePrev: '[null]' }],
      batches: [],
      tiles: new Map(),
    });
    await store.publishCheckpoint(lease, {
      seq: 1,
      eventHash: 'h1',
      text: 'head-1',
      index: { top: new Map(), leaves: [] },
    });
    expect((await store.latestCheckpoint())?.text).toBe('head-1');

    await replica.stop();
    const append = await store.appendIngest(['late']).catch((e: unknown) => e);
    expect(isGovernanceError(append, 'ledger.unavailable')).toBe(true);
    await store.commit({
      lease,
      expect: { seq: 1, eventHash: 'h1' },
      records: ['r2'],
      eventHash: 'h2',
      eventHashAlt: 'a2',
      consumed: [],
      batches: [],
      tiles: new Map(),
    });
    const head = await store
      .publishCheckpoint(lease, {
        seq: 2,
        eventHash: 'h2',
        text: 'head-2',
        index: { top: new Map(), leaves: [] },
      })
      .catch((e: unknown) => e);
    expect(isGovernanceError(head, 'ledger.unavailable')).toBe(true);
    expect((await store.latestCheckpoint())?.text).toBe('head-1');
  });
});
