// The Redis connection of a process configured by its environment only (the ledger sequencer), and
// the same variables overriding a service's configuration file.
import { describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { applyServiceEnvironment, redisConfigFromEnvironment } from '../../store/service-process.js';

describe('redisConfigFromEnvironment', () => {
  it('reads each mode, with the caller key prefix', () => {
    expect(redisConfigFromEnvironment({ REDIS_URL: 'redis://redis:6379' })).toEqual({
      mode: 'standalone',
      url: 'redis://redis:6379',
    });
    expect(
      redisConfigFromEnvironment(
        {
          REDIS_MODE: 'sentinel',
          REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379,[fd00::1]:26380',
          REDIS_SENTINEL_NAME: 'gov-master',
        },
        'eu:',
      ),
    ).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'sentinel-1', port: 26379 },
        { host: 'fd00::1', port: 26380 },
      ],
      name: 'gov-master',
      keyPrefix: 'eu:',
    });
    expect(
      redisConfigFromEnvironment({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379' }),
    ).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6379 },
      ],
    });
  });

  it.each<[Record<string, string>, RegExp]>([
    [{}, /^REDIS_URL must be set/],
    [
      { REDIS_MODE: 'replicated', REDIS_URL: 'redis://x' },
      /REDIS_MODE must be standalone, sentinel or cluster/,
    ],
    [{ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's:26379' }, /^REDIS_SENTINEL_NAME must be set/],
    [{ REDIS_MODE: 'cluster' }, /^REDIS_CLUSTER_NODES must be set/],
    [
      { REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://x' },
      /REDIS_URL cannot be used with REDIS_MODE cluster/,
    ],
    [{ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis-0' }, /REDIS_CLUSTER_NODES must be host:port/],
    [{ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:70000' }, /nodes\.0\.port/],
    [{ REDIS_URL: 'http://redis:6379' }, /url: must be a redis:\/\/ or rediss:\/\/ URL/],
  ])('refuses %j with config.invalid', (env, message) => {
    let error: unknown;
    try {
      redisConfigFromEnvironment(env);
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, 'config.invalid'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe('applyServiceEnvironment: the Redis topology', () => {
  const file = {
    redis: { mode: 'standalone', url: 'redis://file:6379', keyPrefix: 'eu:', commandTimeoutMs: 400 },
  };
  const redisOf = (env: NodeJS.ProcessEnv) => applyServiceEnvironment(file, env, 'GOV_TEST').out.redis;

  it("REDIS_MODE replaces where Redis is and keeps the file's other Redis settings", () => {
    expect(redisOf({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis-0:6379,redis-1:6379' })).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6379 },
      ],
      keyPrefix: 'eu:',
      commandTimeoutMs: 400,
    });
    expect(
      redisOf({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's-0:26379', REDIS_SENTINEL_NAME: 'gov' }),
    ).toEqual({
      mode: 'sentinel',
      sentinels: [{ host: 's-0', port: 26379 }],
      name: 'gov',
      keyPrefix: 'eu:',
      commandTimeoutMs: 400,
    });
  });

  it('REDIS_URL alone still overrides a standalone file, and REDIS_MODE refuses mixed variables', () => {
    expect(redisOf({ REDIS_URL: 'redis://env:6379' })).toMatchObject({
      mode: 'standalone',
      url: 'redis://env:6379',
    });
    expect(redisOf({})).toEqual(file.redis);
    let error: unknown;
    try {
      redisOf({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis-0:6379', REDIS_URL: 'redis://env:6379' });
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, 'config.invalid')).toBe(true);
    expect((error as Error).message).toMatch(/REDIS_URL cannot be used with REDIS_MODE cluster/);
  });
});
