// The Redis connection of a process configured by its environment only (the ledger sequencer).
import { describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import { redisConfigFromEnvironment } from '../../store/service-process.js';

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
