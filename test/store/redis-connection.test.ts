// Redis connections: config validation, failing fast (refused, paused, killed), the dedicated
// blocking connection, and the stores in Sentinel and Cluster mode on real local servers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernanceError } from '../../core/errors.js';
import {
  closeRedis,
  connectBlocking,
  connectRedis,
  defineScript,
  parseRedisConfig,
  type RedisClient,
  type RedisConfig,
} from '../../store/redis-connection.js';
import { freePort, startRedis, waitForRedis, type TestRedis } from '../support/redis.js';
import { RedisUseStateStore } from '../../store/use-state-redis.js';
import { describeStoreContract, newArtifactId, presentation, redisStores } from './contract.js';

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

// Sentinel and Cluster need several local servers; they run when redis-server and redis-cli
// are on PATH (CI installs them), and say why they skip otherwise.
const haveBinaries = ['redis-server', 'redis-cli'].every(
  (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
);

class LocalServers {
  private readonly processes: ChildProcess[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'gov-redis-topology-'));

  async start(args: string[]): Promise<number> {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      [...args, '--port', String(port), '--bind', '127.0.0.1', '--save', ''],
      {
        cwd: this.dir,
        stdio: 'ignore',
      },
    );
    this.processes.push(child);
    await waitForRedis(`redis://127.0.0.1:${port}`);
    return port;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const prefixed = () => `t${randomBytes(4).toString('hex')}:`;

describe.skipIf(!haveBinaries)('sentinel mode (needs redis-server, redis-cli)', () => {
  const servers = new LocalServers();
  let sentinelPort: number;
  beforeAll(async () => {
    const masterPort = await servers.start([]);
    const conf = join(servers.dir, 'sentinel.conf');
    writeFileSync(conf, `sentinel monitor gov-master 127.0.0.1 ${masterPort} 1\n`);
    sentinelPort = await servers.start([conf, '--sentinel']);
  });
  afterAll(() => servers.stop());

  const connectSentinel = () =>
    connectRedis({
      mode: 'sentinel',
      sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
      name: 'gov-master',
      keyPrefix: prefixed(),
    });
  describeStoreContract('redis sentinel', redisStores(connectSentinel), 'use-state');
  describeStoreContract('redis sentinel', redisStores(connectSentinel), 'registry');
});

describe.skipIf(!haveBinaries)('cluster mode (needs redis-server, redis-cli)', () => {
  const servers = new LocalServers();
  const nodes: { host: string; port: number }[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const port = await servers.start([
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${i}.conf`,
        '--appendonly',
        'no',
      ]);
      nodes.push({ host: '127.0.0.1', port });
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-yes'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (create.status !== 0) throw new Error(`cluster create failed: ${create.stdout}${create.stderr}`);
    for (const node of nodes) {
      for (let tries = 0; ; tries++) {
        const info = spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], {
          encoding: 'utf8',
        });
        if (info.stdout.includes('cluster_state:ok')) break;
        if (tries > 200) throw new Error(`cluster node ${node.port} did not become ready`);
        await sleep(50);
      }
    }
  }, 60_000);
  afterAll(() => servers.stop());

  const connectCluster = () => connectRedis({ mode: 'cluster', nodes, keyPrefix: prefixed() });
  describeStoreContract('redis cluster', redisStores(connectCluster), 'use-state');
  describeStoreContract('redis cluster', redisStores(connectCluster), 'registry');

  it('spreads use state over the shards', async () => {
    const client = await connectCluster();
    try {
      const store = new RedisUseStateStore(client);
      const now = Date.now();
      for (let i = 0; i < 60; i++) {
        const request = presentation(
          newArtifactId(),
          { mode: 'single', nonce: 'A'.repeat(22) },
          undefined,
          now,
        );
        expect(await store.consume(request)).toBe(true);
      }
      const perShard = await Promise.all(
        nodes.map((n) => {
          const out = spawnSync('redis-cli', ['-p', String(n.port), 'dbsize'], { encoding: 'utf8' });
          return Number(out.stdout.trim());
        }),
      );
      expect(perShard.every((count) => count > 0)).toBe(true);
    } finally {
      await closeRedis(client);
    }
  });
});
