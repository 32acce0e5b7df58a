// The Redis connection as the environment names it, overriding a service's configuration file,
// each service saying at start-up which Redis it uses and why, and the service binaries' --help
// and start-up errors with their exit codes (service/process.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDevDeployment, type DevDeployment } from '../../devkit/dev-deployment.js';
import {
  childEnvironment,
  loggedLine,
  nodeCommand,
  packageModule,
  startChild,
} from '../../devkit/server-process.js';
import { isGovernanceError } from '../../core/errors.js';
import { applyServiceEnvironment, redisConfigFromEnvironment } from '../../service/config.js';
import { runModule } from '../support/run-module.js';

describe('redisConfigFromEnvironment', () => {
  it('reads each mode', () => {
    expect(redisConfigFromEnvironment({ REDIS_URL: 'redis://redis:6379' })).toEqual({
      mode: 'standalone',
      url: 'redis://redis:6379',
    });
    expect(
      redisConfigFromEnvironment({
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379,[fd00::1]:26380',
        REDIS_SENTINEL_NAME: 'gov-master',
      }),
    ).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'sentinel-1', port: 26379 },
        { host: 'fd00::1', port: 26380 },
      ],
      name: 'gov-master',
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

describe('each service names its Redis at start-up', () => {
  // The line comes before connecting, and never carries credentials. Redis is a server that
  // accepts and never answers: the service is still connecting when it is stopped.
  const silent = createServer(() => undefined);
  let dir: string;
  let at: string;
  let deployment: DevDeployment;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gov-redis-named-'));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    at = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    deployment = writeDevDeployment(dir, {
      redisUrl: `redis://admin:file-secret@${at}`,
      redisKeyPrefix: 'named:',
      logLevel: 'info',
    });
  });
  afterAll(() => {
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The `redis` field of the service's 'using redis' log line, and the raw line. */
  async function named(module: string, args: string[], env: Record<string, string>) {
    const child = await startChild(
      ...nodeCommand(packageModule(module), args),
      loggedLine('using redis', (log) => ({ redis: log.redis, line: JSON.stringify(log) })),
      env,
    );
    await child.stop();
    return child.ready;
  }

  it('the authority: the file overridden by REDIS_URL', async () => {
    const { redis, line } = await named('authority/main', ['--config', deployment.files.authorityConfig], {
      REDIS_URL: `redis://${at}/1`,
    });
    expect(redis).toEqual({
      mode: 'standalone',
      server: at,
      tls: false,
      keyPrefix: 'named:',
      from: 'environment (REDIS_URL)',
    });
    expect(line).not.toContain('secret');
  });

  it('the enforcement point: its configuration file, without the credentials', async () => {
    const { redis, line } = await named('authz-server/main', ['--config', deployment.files.authzConfig], {});
    expect(redis).toEqual({
      mode: 'standalone',
      server: at,
      tls: false,
      keyPrefix: 'named:',
      from: 'configuration file',
    });
    expect(line).not.toContain('secret');
  });

  it('the sequencer: the file overridden by REDIS_URL, without the credentials', async () => {
    const { redis, line } = await named('sequencer/main', ['--config', deployment.files.sequencerConfig], {
      REDIS_URL: `rediss://admin:env-secret@${at}`,
    });
    expect(redis).toEqual({
      mode: 'standalone',
      server: at,
      tls: true,
      keyPrefix: 'named:',
      from: 'environment (REDIS_URL)',
    });
    expect(line).not.toContain('secret');
  });
});

describe('the service binaries', () => {
  const SERVICES = [
    ['authority', 'authority/main.ts'],
    ['authz-server', 'authz-server/main.ts'],
    ['sequencer', 'sequencer/main.ts'],
  ] as const;

  it.each(SERVICES)('%s answers --help with its usage and its exit codes', async (_name, module) => {
    const result = await runModule(module, ['--help'], childEnvironment());
    expect(result.code, result.stderr).toBe(0);
    expect(
      result.stdout.startsWith(`usage: node dist/${module.replace(/\.ts$/, '.js')} --config <file.yaml>`),
    ).toBe(true);
    expect(result.stdout).toMatch(/REDIS_URL[\s\S]*exits 2 when the[\s\S]*1 otherwise[\s\S]*SIGTERM/);
  });

  it('the sequencer has no gRPC listener to override', async () => {
    const result = await runModule('sequencer/main.ts', ['--help'], childEnvironment());
    expect(result.stdout).toContain('GOV_SEQUENCER_HTTP_HOST, GOV_SEQUENCER_HTTP_PORT');
    expect(result.stdout).not.toContain('GRPC');
  });

  it.each(SERVICES)('%s without --config: one line naming the usage, exit 2', async (name, module) => {
    const result = await runModule(module, [], childEnvironment());
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `${name}: cannot start: config.invalid: usage: main.js --config <file.yaml>\n`,
    );
  });

  describe('from a development deployment', () => {
    let dir: string;
    let deployment: DevDeployment;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'gov-service-exit-'));
      deployment = writeDevDeployment(dir, { redisUrl: 'redis://127.0.0.1:1' });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('the sequencer with a file it cannot read: one line naming the field and the file, exit 2', async () => {
      const missing = join(dir, 'absent.json');
      const path = join(dir, 'sequencer-missing.yaml');
      writeFileSync(
        path,
        readFileSync(deployment.files.sequencerConfig, 'utf8').replace(
          /^producerKeysFile: .*$/m,
          `producerKeysFile: ${missing}`,
        ),
      );
      const result = await runModule('sequencer/main.ts', ['--config', path], childEnvironment());
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `sequencer: cannot start: config.invalid: cannot read producerKeysFile ${missing}: ENOENT\n`,
      );
    });

    it('the sequencer when Redis does not answer: one line saying so, exit 1', async () => {
      const result = await runModule(
        'sequencer/main.ts',
        ['--config', deployment.files.sequencerConfig],
        childEnvironment(),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^sequencer: cannot start: state\.unavailable: .*\n$/);
    });
  });
});
