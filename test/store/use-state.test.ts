// The use-state contract against memory and a real Redis, plus what only one of them can show:
// replicas racing on separate connections, a paused server, a lost script cache, the sweep.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { closeRedis, connectRedis, hashSlot, type RedisClient } from '../../store/redis-connection.js';
import { MemoryUseStateStore } from '../../store/use-state-memory.js';
import { RedisUseStateStore } from '../../store/use-state-redis.js';
import { admissionKey, useKey } from '../../store/use-state-rules.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  admission,
  connectTestRedis,
  describeStoreContract,
  expectCode,
  memoryStores,
  newArtifactId,
  presentation,
  redisStores,
} from './contract.js';

const single = { mode: 'single', nonce: 'AAAAAAAAAAAAAAAAAAAAAA' } as const;

describeStoreContract('memory', memoryStores, 'use-state');

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
    'use-state',
  );

  describe('replicas and keys', () => {
    let clients: RedisClient[] = [];
    afterAll(async () => {
      await Promise.all(clients.map(closeRedis));
    });

    it('allows one presentation of a single-use artifact across two connections', async () => {
      const keyPrefix = `${redis.prefix}replicas:`;
      clients = await Promise.all(
        [1, 2].map(() => connectRedis({ mode: 'standalone', url: redis.url, keyPrefix })),
      );
      const [a, b] = clients.map((client) => new RedisUseStateStore(client));
      for (let round = 0; round < 20; round++) {
        const id = newArtifactId();
        const now = Date.now();
        const results = await Promise.all(
          Array.from({ length: 32 }, (_, i) => (i % 2 ? a! : b!).consume(presentation(id, single, now))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      }
    });

    it('keeps an artifact in one hash slot with state expiring at expiresAtMs, and its admissions', async () => {
      const client = await connectTestRedis(redis);
      try {
        const store = new RedisUseStateStore(client);
        const id = newArtifactId();
        const now = Date.now();
        const expiresAtMs = now + 30_000;
        expect(await store.consume(presentation(id, single, now, { expiresAtMs }))).toBe(true);
        const prefix = client.options.keyPrefix!;
        expect((await client.keys(`${prefix}*`)).map((k) => k.slice(prefix.length))).toEqual([
          `gov:use:{${id}}`,
        ]);
        expect(await client.pexpiretime(useKey(id))).toBe(expiresAtMs);
        // An admission lives beside its artifact's state (one hash slot) for its own lifetime.
        const other = newArtifactId();
        const open = admission('workload', 5_000);
        expect(await store.consume(presentation(other, single, now, { admission: open }))).toBe(true);
        expect(hashSlot(admissionKey(other, open.id))).toBe(hashSlot(useKey(other)));
        const ttl = await client.pttl(admissionKey(other, open.id));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(5_000);
      } finally {
        await closeRedis(client);
      }
    });

    it('still works after the server lost its script cache', async () => {
      const client = await connectTestRedis(redis);
      try {
        const store = new RedisUseStateStore(client);
        const now = Date.now();
        expect(await store.consume(presentation(newArtifactId(), single, now))).toBe(true);
        await client.script('FLUSH');
        const id = newArtifactId();
        expect(await store.consume(presentation(id, single, now))).toBe(true);
        expect(await store.consume(presentation(id, single, now))).toBe(false);
      } finally {
        await closeRedis(client);
      }
    });
  });
});

describe('redis paused or gone', () => {
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

  it('rejects with state.unavailable within the command timeout when the server is paused', async () => {
    const store = new RedisUseStateStore(client);
    const id = newArtifactId();
    redis.process!.kill('SIGSTOP');
    try {
      const started = Date.now();
      await expectCode(store.consume(presentation(id, single, Date.now())), 'state.unavailable');
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(commandTimeoutMs - 5);
      expect(elapsed).toBeLessThan(commandTimeoutMs + 500);
    } finally {
      redis.process!.kill('SIGCONT');
    }
    // The presentation may have run once the server woke: it is not allowed again either way.
    await new Promise((r) => setTimeout(r, 100));
    expect(await store.consume(presentation(id, single, Date.now()))).toBe(false);
    expect(await store.consume(presentation(newArtifactId(), single, Date.now()))).toBe(true);
  });

  it('rejects at once while the server is down, and works again after it restarts', async () => {
    const store = new RedisUseStateStore(client);
    const errors: unknown[] = [];
    client.on('error', (e: unknown) => errors.push(e));
    redis.process!.kill('SIGKILL');
    await new Promise((r) => redis.process!.once('exit', r));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const error = await store.consume(presentation(newArtifactId(), single, Date.now())).catch((e) => e);
    expect(isGovernanceError(error, 'state.unavailable')).toBe(true);
    expect(Date.now() - started).toBeLessThan(100);
    await redis.restart();
    const deadline = Date.now() + 10_000;
    let allowed: boolean | undefined;
    while (allowed === undefined && Date.now() < deadline) {
      allowed = await store.consume(presentation(newArtifactId(), single, Date.now())).catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    }
    expect(allowed).toBe(true);
  });
});

describe('memory store lifecycle', () => {
  it('sweeps expired state without being asked', async () => {
    let now = Date.now();
    const store = new MemoryUseStateStore({ clock: () => now, sweepIntervalMs: 10 });
    try {
      for (let i = 0; i < 50; i++) {
        await store.consume(presentation(newArtifactId(), single, now, { expiresAtMs: now + 1_000 + i }));
      }
      expect(store.size).toBe(50);
      now += 1_025;
      await new Promise((r) => setTimeout(r, 50));
      expect(store.size).toBe(24);
      now += 1_000;
      await new Promise((r) => setTimeout(r, 50));
      expect(store.size).toBe(0);
    } finally {
      store.close();
    }
  });

  it('refuses once its own clock passes expiresAtMs, whatever the caller clock says', async () => {
    let now = Date.now();
    const store = new MemoryUseStateStore({ clock: () => now });
    try {
      const callerNow = now;
      const id = newArtifactId();
      const request = presentation(id, single, callerNow, { expiresAtMs: callerNow + 1_000 });
      expect(await store.consume(request)).toBe(true);
      now += 1_000;
      // The state is gone, and the caller's clock still says the artifact is valid: refused.
      expect(await store.consume(request)).toBe(false);
      expect(
        await store.consume(
          presentation(newArtifactId(), single, callerNow, { expiresAtMs: callerNow + 1_000 }),
        ),
      ).toBe(false);
    } finally {
      store.close();
    }
  });

  it('rejects with state.unavailable after close', async () => {
    const store = new MemoryUseStateStore();
    store.close();
    await expectCode(store.consume(presentation(newArtifactId(), single, Date.now())), 'state.unavailable');
  });
});
