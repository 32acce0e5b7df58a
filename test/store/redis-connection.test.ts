// Redis connections: config validation, failing fast (refused, paused, killed), the dedicated
// blocking connection, a lost reply never sent again, and the stores (use state, registry,
// ledger) in Sentinel and Cluster mode on real local servers.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { ledgerKeys, RedisLedgerStore } from '../../store/ledger-redis.js';
import {
  closeRedis,
  connectBlocking,
  connectRedis,
  defineScript,
  hashSlot,
  LOST_REPLY,
  parseRedisConfig,
  type RedisClient,
  type RedisConfig,
} from '../../store/redis-connection.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';
import {
  adminConnection,
  haveRedisTools,
  startCluster,
  startSentinel,
  type LocalCluster,
  type LocalSentinel,
} from '../support/redis-topology.js';
import { RedisUseStateStore } from '../../store/use-state-redis.js';
import { describeStoreContract, newArtifactId, presentation, redisStores } from './contract.js';
import { ledgerStoreContract, redisLedgerFixture } from './ledger-contract.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof Error)) throw new Error('expected a rejection');
  return outcome;
}

describe('redis config', () => {
  it('accepts the three modes', () => {
    const valid: RedisConfig[] = [
      { mode: 'standalone', url: 'redis://127.0.0.1:6379/0', commandTimeoutMs: 100, keyPrefix: 'app:' },
      { mode: 'standalone', url: 'rediss://user:pw@redis.example:6380' },
      { mode: 'sentinel', sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'gov-master' },
      { mode: 'cluster', nodes: [{ host: 'redis-0', port: 7000 }] },
    ];
    for (const config of valid) expect(parseRedisConfig(config)).toEqual(config);
  });

  it('refuses bad configs with config.invalid naming the field', () => {
    const cases: [unknown, string][] = [
      [undefined, 'config'],
      [{ mode: 'replicated', url: 'redis://x' }, 'mode'],
      [{ mode: 'standalone' }, 'url'],
      [{ mode: 'standalone', url: 'http://127.0.0.1:6379' }, 'url: must be a redis:// or rediss:// URL'],
      [{ mode: 'standalone', url: 'redis://x', nodes: [{ host: 'a', port: 1 }] }, 'nodes'],
      [{ mode: 'sentinel', sentinels: [], name: 'm' }, 'sentinels'],
      [{ mode: 'sentinel', sentinels: [{ host: 'a', port: 1 }] }, 'name'],
      [{ mode: 'cluster', nodes: [{ host: 'a', port: 70_000 }] }, 'nodes.0.port'],
      [{ mode: 'standalone', url: 'redis://x', commandTimeoutMs: 0 }, 'commandTimeoutMs'],
      [{ mode: 'standalone', url: 'redis://x', commandTimeoutMs: 1.5 }, 'commandTimeoutMs'],
      [{ mode: 'standalone', url: 'redis://x', keyPrefix: '{t}:' }, 'keyPrefix'],
    ];
    for (const [config, field] of cases) {
      let error: unknown;
      try {
        parseRedisConfig(config);
      } catch (e) {
        error = e;
      }
      expect(isGovernanceError(error, 'config.invalid'), JSON.stringify(config)).toBe(true);
      expect((error as Error).message).toContain(field);
    }
  });

  it('validates before connecting', async () => {
    const error = await failure(
      connectRedis({ mode: 'standalone', url: 'ftp://x' } as unknown as RedisConfig),
    );
    expect(isGovernanceError(error, 'config.invalid')).toBe(true);
  });
});

describe('connecting', () => {
  it('fails fast with state.unavailable when nothing listens, without leaking the password', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(
      connectRedis({ mode: 'standalone', url: `redis://app:s3cret@127.0.0.1:${port}` }),
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(isGovernanceError(error, 'state.unavailable')).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).not.toContain('s3cret');
  });
});

describe('a connection to a local server', () => {
  let redis: TestRedis;
  let client: RedisClient;
  const errors: Error[] = [];
  const commandTimeoutMs = 150;
  beforeAll(async () => {
    redis = await startRedis({ local: true });
    client = await connectRedis(
      { mode: 'standalone', url: redis.url, commandTimeoutMs, keyPrefix: 'p1:' },
      (error) => errors.push(error),
    );
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('applies the key prefix', async () => {
    await client.set('k', 'v');
    const raw = await connectRedis({ mode: 'standalone', url: redis.url });
    try {
      expect(await raw.get('p1:k')).toBe('v');
      expect(await raw.get('k')).toBeNull();
    } finally {
      await closeRedis(raw);
    }
  });

  it('serves blocking reads on a second connection without stalling the shared one', async () => {
    const blocking = await connectBlocking(client);
    try {
      const started = Date.now();
      const read = blocking.xread('BLOCK', 600, 'STREAMS', 'nothing', '$');
      expect(await client.ping()).toBe('PONG');
      expect(Date.now() - started).toBeLessThan(100);
      // No command timeout on the blocking connection: the read ends when Redis ends it.
      expect(await read).toBeNull();
      expect(Date.now() - started).toBeGreaterThanOrEqual(590);
      // The shared connection's timeout would have cut the same read short.
      const error = await failure(client.xread('BLOCK', 600, 'STREAMS', 'nothing', '$'));
      expect(error.message).toMatch(/timed out/i);
    } finally {
      blocking.disconnect();
    }
  });

  it('checks the key count of a script call', () => {
    const call = defineScript(client, 'govTestEcho', 'return ARGV[1]', 1);
    expect(() => call([], ['x'])).toThrow(/takes 1 keys/);
  });

  it('fails a command within the timeout while the server is paused, and recovers', async () => {
    redis.process!.kill('SIGSTOP');
    try {
      const started = Date.now();
      const error = await failure(client.get('k'));
      expect(error.message).toMatch(/timed out/i);
      expect(Date.now() - started).toBeLessThan(commandTimeoutMs + 300);
      // A new connection does not hang on a server that accepts TCP but never answers.
      const connecting = Date.now();
      const refused = await failure(connectRedis({ mode: 'standalone', url: redis.url }));
      expect(isGovernanceError(refused, 'state.unavailable')).toBe(true);
      expect(Date.now() - connecting).toBeLessThan(3_000);
    } finally {
      redis.process!.kill('SIGCONT');
    }
    expect(await client.get('k')).toBe('v');
  });

  it('fails commands at once while disconnected, reports errors to the listener, and reconnects', async () => {
    redis.process!.kill('SIGKILL');
    await new Promise((r) => redis.process!.once('exit', r));
    await sleep(50);
    const started = Date.now();
    await failure(client.get('k'));
    expect(Date.now() - started).toBeLessThan(100);
    await sleep(200);
    expect(errors.length).toBeGreaterThan(0);
    await redis.restart();
    const deadline = Date.now() + 10_000;
    let answer: string | undefined;
    while (answer === undefined && Date.now() < deadline) {
      answer = await client.ping().catch(() => sleep(50).then(() => undefined));
    }
    expect(answer).toBe('PONG');
  });
});

const prefixed = () => `t${randomBytes(4).toString('hex')}:`;

/**
 * Sends a write while the server holds writes (CLIENT PAUSE WRITE), kills every client
 * connection but the admin's while the write waits for its reply, and returns how the write
 * ended once the pause is over: a client that sent it again has by then had it run.
 */
async function loseReply(admin: Redis, send: () => Promise<unknown>): Promise<Error> {
  await admin.call('CLIENT', 'PAUSE', '400', 'WRITE');
  const outcome = failure(send());
  await sleep(100);
  await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  const error = await outcome;
  await sleep(600);
  return error;
}

/** A command whose reply is lost is rejected and never run again: a plain client, then the ledger. */
function describeLostReplies(
  mode: string,
  setup: () => Promise<{ config: (keyPrefix: string) => RedisConfig; adminFor(key: string): Promise<Redis> }>,
): void {
  describe(`a lost reply (${mode})`, () => {
    let topology: Awaited<ReturnType<typeof setup>>;
    beforeAll(async () => {
      topology = await setup();
    });

    it('rejects the command and never sends it again', async () => {
      const keyPrefix = prefixed();
      const client = await connectRedis(topology.config(keyPrefix));
      const admin = await topology.adminFor(`${keyPrefix}counter`);
      try {
        const error = await loseReply(admin, () => client.incr('counter'));
        expect(error.message).toBe(LOST_REPLY);
        expect(await admin.get(`${keyPrefix}counter`)).toBeNull();
        expect(await client.incr('counter')).toBe(1);
      } finally {
        admin.disconnect();
        await closeRedis(client);
      }
    });

    it('fails a ledger append whose reply is lost, and never appends it', async () => {
      const keyPrefix = prefixed();
      const store = new RedisLedgerStore({ redis: topology.config(keyPrefix), log: 'lost-reply' });
      const ingest = ledgerKeys('lost-reply', keyPrefix).ingest;
      const admin = await topology.adminFor(ingest);
      try {
        await store.appendIngest(['first']);
        const error = await loseReply(admin, () => store.appendIngest(['lost']));
        expect(isGovernanceError(error, 'ledger.unavailable'), String(error)).toBe(true);
        expect(error.message).toContain(LOST_REPLY);
        expect((await store.readIngest('0-0', 10, 0)).map((e) => e.batch)).toEqual(['first']);
        await store.appendIngest(['after']);
        expect((await store.readIngest('0-0', 10, 0)).map((e) => e.batch)).toEqual(['first', 'after']);
      } finally {
        admin.disconnect();
        await store.close();
      }
    });
  });
}

describe('a local server, for lost replies', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis({ local: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });
  describeLostReplies('standalone', async () => ({
    config: (keyPrefix) => ({ mode: 'standalone', url: redis.url, keyPrefix }),
    adminFor: async () => adminConnection(Number(new URL(redis.url).port)),
  }));
});

// Sentinel and Cluster need several local servers; they run when redis-server and redis-cli
// are on PATH (CI installs them), and say why they skip otherwise.

/**
 * The contracts assert what the stores do, not how fast: on a loaded CI machine a command to a
 * three-node topology can outlast the production default timeout (250 ms). The timeout's own
 * behaviour is tested where it is the subject (describeLostReplies, the SIGSTOP tests).
 */
const unhurried = (config: RedisConfig): RedisConfig => ({ ...config, commandTimeoutMs: 5_000 });
describe.skipIf(!haveRedisTools)('sentinel mode (needs redis-server, redis-cli)', () => {
  let sentinel: LocalSentinel;
  beforeAll(async () => {
    sentinel = await startSentinel();
  }, 60_000);
  afterAll(() => sentinel?.stop());

  const connectSentinel = () => connectRedis(unhurried(sentinel.config(prefixed())));
  describeStoreContract('redis sentinel', redisStores(connectSentinel), 'use-state');
  describeStoreContract('redis sentinel', redisStores(connectSentinel), 'registry');
  ledgerStoreContract('redis sentinel', async () =>
    redisLedgerFixture({ redis: sentinel.config(prefixed()), log: 'test-log' }),
  );
  describeLostReplies('sentinel', async () => ({
    config: (keyPrefix) => sentinel.config(keyPrefix),
    adminFor: async () => adminConnection(await sentinel.currentMasterPort()),
  }));
});

describe.skipIf(!haveRedisTools)('cluster mode (needs redis-server, redis-cli)', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());

  const connectCluster = () => connectRedis(unhurried(cluster.config(prefixed())));
  describeStoreContract('redis cluster', redisStores(connectCluster), 'use-state');
  describeStoreContract('redis cluster', redisStores(connectCluster), 'registry');
  ledgerStoreContract('redis cluster', async () =>
    redisLedgerFixture({ redis: cluster.config(prefixed()), log: 'test-log' }),
  );
  describeLostReplies('cluster', async () => ({
    config: (keyPrefix) => cluster.config(keyPrefix),
    adminFor: async (key) => adminConnection(await cluster.ownerOf(hashSlot(key))),
  }));

  it('computes the hash slot of a key as the server does', async () => {
    const admin = adminConnection(cluster.masters[0]!.port);
    try {
      const keys = [
        '',
        'a',
        'gov:use:{auth_X}',
        '{gov:ledger:governance}:tip',
        'p:{}x',
        '{}{a}',
        'x{y',
        'é{ü}z',
      ];
      for (let i = 0; i < 40; i++) keys.push(randomBytes(1 + (i % 17)).toString('base64'));
      for (const key of keys) {
        expect(hashSlot(key), key).toBe(Number(await admin.call('CLUSTER', 'KEYSLOT', key)));
      }
    } finally {
      admin.disconnect();
    }
  });

  it('spreads use state over the shards', async () => {
    const client = await connectCluster();
    try {
      const store = new RedisUseStateStore(client);
      const now = Date.now();
      for (let i = 0; i < 60; i++) {
        const request = presentation(newArtifactId(), { mode: 'single', nonce: 'A'.repeat(22) }, now);
        expect(await store.consume(request)).toBe(true);
      }
      const perShard = await Promise.all(
        cluster.masters.map((n) => {
          const out = spawnSync('redis-cli', ['-p', String(n.port), 'dbsize'], { encoding: 'utf8' });
          return Number(out.stdout.trim());
        }),
      );
      expect(perShard.every((count) => count > 0)).toBe(true);
    } finally {
      await closeRedis(client);
    }
  });

  it('keeps every key of a ledger in one slot', async () => {
    const keyPrefix = prefixed();
    const fixture = redisLedgerFixture({ redis: cluster.config(keyPrefix), log: 'one-slot' });
    try {
      const { store } = fixture;
      const lease = (await store.acquireLease('seq', 10_000))!;
      const [id] = await store.appendIngest(['b']);
      await store.commit({
        lease,
        expect: { seq: 0, eventHash: '' },
        records: ['r1'],
        eventHash: 'h1',
        eventHashAlt: 'a1',
        consumed: [{ ingestId: id!, seq: 1, lineagePrev: '[null]' }],
        batches: ['val-1'],
        tiles: new Map([['0/0', new Uint8Array(32)]]),
        openings: [[1, 0, 'identity', '{"member":"identity"}']],
      });
      await store.publishCheckpoint(lease, {
        seq: 1,
        eventHash: 'h1',
        text: 'checkpoint-1',
        index: { top: new Map([['0:', Uint8Array.of(2)]]), leaves: [new Uint8Array(64)] },
      });
      const slot = hashSlot(ledgerKeys('one-slot', keyPrefix).tip);
      const owner = adminConnection(await cluster.ownerOf(slot));
      try {
        const keys = await owner.keys(`${keyPrefix}*`);
        // tip, lease, fence, ingest, the record, checkpoints, tiles, index, its shard 0 and the
        // shards' sizes, commits, batches, openings
        expect(keys.length).toBeGreaterThanOrEqual(13);
        expect(new Set(keys.map(hashSlot))).toEqual(new Set([slot]));
      } finally {
        owner.disconnect();
      }
    } finally {
      await fixture.cleanup();
    }
  });
});
