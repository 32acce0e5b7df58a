// A real Redis for integration tests, found in this order:
//   1. REDIS_URL, when set (a shared server: each caller gets its own key prefix);
//   2. testcontainers, when a Docker engine answers;
//   3. a redis-server from PATH, started on a free loopback port with its own temp dir.
// Tests that kill or pause Redis ask for `local: true` and always get case 3.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { freePort } from '../../devkit/server-process.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisOptions {
  /** Always start our own redis-server (for fault injection). */
  local?: boolean;
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
}

export interface TestRedis {
  url: string;
  /** A prefix unique to this caller, for tests sharing one server through REDIS_URL. */
  prefix: string;
  source: 'REDIS_URL' | 'testcontainers' | 'redis-server';
  /** The local process (source 'redis-server' only), for SIGSTOP/SIGKILL tests. */
  process?: ChildProcess;
  /** Restarts a local server on the same port and data dir (so an AOF is replayed). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

// Tests and benchmarks pick ports the same way (devkit/server-process.ts).
export { freePort };

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

async function dockerAnswers(): Promise<boolean> {
  const socket = '/var/run/docker.sock';
  if (!process.env.DOCKER_HOST && !existsSync(socket)) return false;
  if (process.env.DOCKER_HOST) return true;
  return new Promise((resolveAnswer) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolveAnswer(res.statusCode === 200);
    });
    req.on('error', () => resolveAnswer(false));
    req.on('timeout', () => {
      req.destroy();
      resolveAnswer(false);
    });
    req.end();
  });
}

export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startLocal(options: RedisOptions, prefix: string): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gov-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appendfsync',
    options.appendfsync ?? 'everysec',
    '--enable-debug-command',
    'local',
  ];
  const handle: TestRedis = {
    url,
    prefix,
    source: 'redis-server',
    async restart() {
      await stopProcess(handle.process);
      handle.process = launch();
      await waitForRedis(url);
    },
    async stop() {
      await stopProcess(handle.process);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const launch = () => {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', () => undefined);
    return child;
  };
  handle.process = launch();
  await waitForRedis(url);
  return handle;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGCONT'); // a paused server cannot handle SIGTERM
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const prefix = `t${randomBytes(6).toString('hex')}:`;
  const env = process.env.REDIS_URL;
  if (env && !options.local) {
    await waitForRedis(env);
    const noop = async () => undefined;
    return { url: env, prefix, source: 'REDIS_URL', restart: noop, stop: noop };
  }
  if (!options.local && (await dockerAnswers())) {
    const { GenericContainer } = await import('testcontainers');
    const cmd = ['redis-server', '--appendonly', options.appendonly ? 'yes' : 'no'];
    const container = await new GenericContainer('redis:7').withExposedPorts(6379).withCommand(cmd).start();
    const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
    await waitForRedis(url);
    return {
      url,
      prefix,
      source: 'testcontainers',
      restart: async () => {
        await container.restart();
        await waitForRedis(url);
      },
      stop: async () => {
        await container.stop();
      },
    };
  }
  if (onPath('redis-server')) return startLocal(options, prefix);
  throw new Error(
    'integration tests need a real Redis: set REDIS_URL, or run a Docker engine (testcontainers), ' +
      'or install redis-server on PATH (Debian: apt-get install redis-server)',
  );
}
