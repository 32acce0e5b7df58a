// The registry contract against memory and a real Redis, plus what only Redis can show: one
// hash slot for every key, a lost script cache, and blocking reads on a paused server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  connectTestRedis,
  describeStoreContract,
  expectCode,
  memoryStores,
  redisStores,
} from './contract.js';

const heartbeat = {
  v: '1',
  issuer: 'authority:test',
  time: '2030-01-01T00:00:00Z',
  revocations: 0,
  sig: { alg: 'ed25519', kid: 'root:test', val: 'A'.repeat(86) },
} as const;

describeStoreContract('memory', memoryStores, 'registry');

describe('redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  describeStoreContract(
    'redis',
    redisStores(() => connectTestRedis(redis)),
    'registry',
  );

  it('keeps every registry key under the {gov:registry} hash tag', async () => {
    const client = await connectTestRedis(redis);
    const registry = new RedisRegistryStore(client);
    try {
      await registry.putHeartbeat(heartbeat);
      await registry.changes('0', 10, 100);
      const prefix = client.options.keyPrefix!;
      const keys = (await client.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).sort();
      expect(keys).toEqual(['{gov:registry}:changes', '{gov:registry}:heartbeat']);
    } finally {
      await registry.close();
      await closeRedis(client);
    }
  });

  it('still works after the server lost its script cache', async () => {
    const client = await connectTestRedis(redis);
    const registry = new RedisRegistryStore(client);
    try {
      await registry.putHeartbeat(heartbeat);
      await client.script('FLUSH');
      await registry.putHeartbeat({ ...heartbeat, revocations: 1 });
      expect((await registry.latestHeartbeat())?.revocations).toBe(1);
      expect((await registry.changes('0', 10, 0)).changes).toHaveLength(2);
    } finally {
      await registry.close();
      await closeRedis(client);
    }
  });
});

describe('redis registry on a paused server', () => {
  let redis: TestRedis;
  let client: RedisClient;
  const commandTimeoutMs = 200;
  beforeAll(async () => {
    redis = await startRedis({ local: true });
    client = await connectRedis({ mode: 'standalone', url: redis.url, commandTimeoutMs });
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('rejects reads and writes with issuer.unavailable, and a blocking read within blockMs + timeout', async () => {
    const registry = new RedisRegistryStore(client);
    try {
      await registry.putHeartbeat(heartbeat);
      // Opens the blocking connection, so the paused read below is on an established socket.
      const { cursor } = await registry.changes('0', 10, 50);
      redis.process!.kill('SIGSTOP');
      try {
        await expectCode(registry.putHeartbeat(heartbeat), 'issuer.unavailable');
        await expectCode(registry.listKeyRecords(), 'issuer.unavailable');
        const started = Date.now();
        await expectCode(registry.changes(cursor, 10, 300), 'issuer.unavailable');
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(300 + commandTimeoutMs - 5);
        expect(elapsed).toBeLessThan(300 + commandTimeoutMs + 500);
      } finally {
        redis.process!.kill('SIGCONT');
      }
      // A fresh blocking connection replaces the one that timed out.
      await new Promise((r) => setTimeout(r, 100));
      const waiting = registry.changes(cursor, 10, 5_000);
      await new Promise((r) => setTimeout(r, 50));
      await registry.putHeartbeat({ ...heartbeat, revocations: 2 });
      expect((await waiting).changes.at(-1)).toEqual({ kind: 'heartbeat' });
    } finally {
      await registry.close();
    }
  });
});
