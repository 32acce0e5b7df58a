// The enforcement point's shared Redis connection is auto-pipelined (authz-server/service.ts): the
// use-state scripts of one event-loop turn go out in one write. Everything the stores promise
// must still hold: the whole contract, exactly one use of a single-use artifact under a burst, a
// lost script cache, and a paused server failing every pipelined command on its own timeout.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { closeRedis, connectBlocking, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisUseStateStore } from '../../store/use-state-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { describeStoreContract, newArtifactId, presentation, redisStores } from './contract.js';

const single = { mode: 'single', nonce: 'AAAAAAAAAAAAAAAAAAAAAA' } as const;
const bounded = { mode: 'bounded', nonce: 'AAAAAAAAAAAAAAAAAAAAAA', max: 3 } as const;

function connectPipelined(redis: TestRedis, commandTimeoutMs?: number): Promise<RedisClient> {
  const keyPrefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
  return connectRedis({ mode: 'standalone', url: redis.url, keyPrefix, commandTimeoutMs }, undefined, {
    autoPipelining: true,
  });
}

describe('redis, auto-pipelined connection', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  for (const part of ['use-state', 'registry'] as const)
    describeStoreContract(
      'redis auto-pipelined',
      redisStores(() => connectPipelined(redis)),
      part,
    );

  it('is auto-pipelined, and its blocking connection is not', async () => {
    const client = await connectPipelined(redis);
    const blocking = await connectBlocking(client);
    try {
      expect(client.options.enableAutoPipelining).toBe(true);
      expect(blocking.options.enableAutoPipelining).toBe(false);
      const plain = await connectRedis({ mode: 'standalone', url: redis.url });
      expect(plain.options.enableAutoPipelining).toBe(false);
      await closeRedis(plain);
    } finally {
      blocking.disconnect();
      await closeRedis(client);
    }
  });

  it('allows exactly one of a burst of presentations of a single-use artifact, and bounded ones up to max', async () => {
    const client = await connectPipelined(redis);
    try {
      const store = new RedisUseStateStore(client);
      for (let round = 0; round < 10; round++) {
        const now = Date.now();
        const one = newArtifactId();
        const three = newArtifactId();
        // Issued in one turn: they share pipelines.
        const [singles, bounds] = await Promise.all([
          Promise.all(Array.from({ length: 64 }, () => store.consume(presentation(one, single, now)))),
          Promise.all(Array.from({ length: 64 }, () => store.consume(presentation(three, bounded, now)))),
        ]);
        expect(singles.filter(Boolean)).toHaveLength(1);
        expect(bounds.filter(Boolean)).toHaveLength(3);
      }
    } finally {
      await closeRedis(client);
    }
  });

  it('still works after the server lost its script cache, within a pipeline', async () => {
    const client = await connectPipelined(redis);
    try {
      const store = new RedisUseStateStore(client);
      const now = Date.now();
      expect(await store.consume(presentation(newArtifactId(), single, now))).toBe(true);
      await client.script('FLUSH');
      const ids = Array.from({ length: 8 }, () => newArtifactId());
      const first = await Promise.all(ids.map((id) => store.consume(presentation(id, single, now))));
      expect(first).toEqual(ids.map(() => true));
      const again = await Promise.all(ids.map((id) => store.consume(presentation(id, single, now))));
      expect(again).toEqual(ids.map(() => false));
    } finally {
      await closeRedis(client);
    }
  });
});

describe('redis paused, auto-pipelined connection', () => {
  let redis: TestRedis;
  let client: RedisClient;
  const commandTimeoutMs = 200;
  beforeAll(async () => {
    redis = await startRedis({ local: true });
    client = await connectPipelined(redis, commandTimeoutMs);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('fails every pipelined presentation with state.unavailable within the command timeout', async () => {
    const store = new RedisUseStateStore(client);
    const ids = Array.from({ length: 16 }, () => newArtifactId());
    redis.process!.kill('SIGSTOP');
    let outcomes: unknown[];
    const started = Date.now();
    try {
      // Two turns: the second batch queues behind the first pipeline, which never answers.
      const first = ids.slice(0, 8).map((id) => store.consume(presentation(id, single, Date.now())));
      await new Promise((r) => setImmediate(r));
      const second = ids.slice(8).map((id) => store.consume(presentation(id, single, Date.now())));
      outcomes = await Promise.all(
        [...first, ...second].map((p) =>
          p.then(
            (v) => v,
            (e: unknown) => e,
          ),
        ),
      );
    } finally {
      redis.process!.kill('SIGCONT');
    }
    const elapsed = Date.now() - started;
    for (const outcome of outcomes) expect(isGovernanceError(outcome, 'state.unavailable')).toBe(true);
    // The second pipeline is sent only once the first has settled: at most two timeouts in all.
    expect(elapsed).toBeLessThan(2 * commandTimeoutMs + 500);
    // Presentations that ran once the server woke are not allowed again; fresh ones are.
    await new Promise((r) => setTimeout(r, 100));
    expect(await store.consume(presentation(ids[0]!, single, Date.now()))).toBe(false);
    expect(await store.consume(presentation(newArtifactId(), single, Date.now()))).toBe(true);
  });
});
