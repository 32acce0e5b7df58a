// Dev mode: one process serving the full fail-closed path on free ports, in memory and on a real
// Redis, through the production loaders; and `npm start` itself (cli/dev.ts) as a process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorityClient } from '../../client/authority.js';
import { sendCheck } from '../../cli/commands/check.js';
import { DEV_IDENTITIES, DEV_LOG, readDevDeployment } from '../../devkit/dev-deployment.js';
import { EXIT } from '../../cli/output.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { govctl } from '../support/govctl.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { PROJECT_ROOT } from '../support/shared.js';
import {
  GATEWAY,
  INFERENCE_RUNTIME,
  lineageTypes,
  MODEL_PATH,
  SAMPLE_OPERATION,
  startTestDevMode,
  type TestDevMode,
} from './support.js';

const check = (dev: TestDevMode, artifact: string | undefined, principal: string = GATEWAY) =>
  sendCheck({
    target: dev.urls.authzGrpc,
    method: 'POST',
    path: MODEL_PATH,
    host: 'governed.local',
    principal,
    ...(artifact !== undefined ? { artifact } : {}),
    header: [],
    context: [],
    timeout: '5000',
  });

/** Request → Check allows → replay denied → lineage holds issue, consume and admission. */
async function fullPath(dev: TestDevMode) {
  const client = new AuthorityClient({
    target: dev.urls.authorityGrpc,
    token: dev.deployment.tokens.workload,
  });
  try {
    const issued = await client.requestArtifact({
      operation: SAMPLE_OPERATION,
      environment: { runtime: INFERENCE_RUNTIME },
    });
    expect(issued.artifact.sub).toBe(DEV_IDENTITIES.workload);
    expect(await check(dev, issued.header)).toMatchObject({ decision: 'allow', artifact_id: issued.id });
    expect(await check(dev, issued.header)).toMatchObject({ decision: 'deny', reason: 'artifact.replayed' });
    const types = await lineageTypes(`${dev.urls.authorityHttp}/v1/proof/lineage/${issued.id}`);
    expect(types.slice(0, 3)).toEqual([
      'authorization.issued',
      'authorization.consumed',
      'admission.granted',
    ]);
    return issued;
  } finally {
    client.close();
  }
}

describe('dev mode in memory', () => {
  let dev: TestDevMode;
  beforeAll(async () => {
    dev = await startTestDevMode();
  });
  afterAll(() => dev?.close());

  it('binds free ports and keeps everything in memory', () => {
    expect(dev.store).toBe('memory');
    for (const port of Object.values(dev.ports)) expect(port).toBeGreaterThan(0);
    expect(new Set(Object.values(dev.ports)).size).toBe(5);
  });

  it('runs the sequencer as production does, with its health and metrics', async () => {
    const health = await fetch(`${dev.urls.sequencerHttp}/healthz`);
    expect(await health.json()).toEqual({ status: 'SERVING', problems: [] });
    const metrics = await (await fetch(`${dev.urls.sequencerHttp}/metrics`)).text();
    expect(metrics).toMatch(/^governance_sequencer_leading 1$/m);
  });

  it('serves the full path: issue, allow, replay denied, ledgered', async () => {
    await fullPath(dev);
  });

  it('fails closed like production: no token, no artifact, another caller', async () => {
    const anonymous = new AuthorityClient({ target: dev.urls.authorityGrpc });
    await expect(
      anonymous.requestArtifact({ operation: SAMPLE_OPERATION, environment: { runtime: INFERENCE_RUNTIME } }),
    ).rejects.toMatchObject({ reason: 'identity.unauthenticated' });
    anonymous.close();
    expect(await check(dev, undefined)).toMatchObject({
      decision: 'deny',
      http_status: 401,
      reason: 'artifact.missing',
    });
    const client = new AuthorityClient({
      target: dev.urls.authorityGrpc,
      token: dev.deployment.tokens.workload,
    });
    const issued = await client.requestArtifact({
      operation: SAMPLE_OPERATION,
      environment: { runtime: INFERENCE_RUNTIME },
    });
    client.close();
    expect(await check(dev, issued.header, DEV_IDENTITIES.security)).toMatchObject({
      decision: 'deny',
      reason: 'identity.mismatch',
    });
  });

  it('wrote a production-shaped deployment with the runtime API and per-role token files', () => {
    const { files, tokens } = dev.deployment;
    expect(readFileSync(files.tokens.workload, 'utf8').trim()).toBe(tokens.workload);
    expect(readFileSync(files.authzConfig, 'utf8')).toMatch(/runtimeApi:/);
    expect(existsSync(files.rootPublicKey)).toBe(true);
  });
});

describe('dev mode on Redis', () => {
  let redis: TestRedis;
  const dir = mkdtempSync(join(tmpdir(), 'gov-dev-redis-'));
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the full path, and a restart reuses the deployment and continues the ledger', async () => {
    const first = await startTestDevMode({ dir, redisUrl: redis.url });
    expect(first.store).toBe('redis');
    expect(first.fresh).toBe(true);
    const issued = await fullPath(first).finally(() => first.close());

    const second = await startTestDevMode({ dir, redisUrl: redis.url });
    try {
      expect(second.fresh).toBe(false);
      expect(second.deployment.rootPublicKey).toBe(first.deployment.rootPublicKey);
      // Use state survived the restart: the artifact is still spent.
      expect(await check(second, issued.header)).toMatchObject({ reason: 'artifact.replayed' });
      await fullPath(second);
      const prefix = second.deployment.redisKeyPrefix;
      const run = await govctl(
        '--json',
        'ledger',
        'verify',
        '--redis',
        redis.url,
        '--log',
        DEV_LOG,
        '--prefix',
        prefix,
        '--root',
        second.deployment.files.rootPublicKey,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(EXIT.ok);
      const verified = JSON.parse(run.stdout) as { records: number };
      const file = join(dir, 'export.jsonl');
      const exported = await govctl(
        'ledger',
        'export',
        '--redis',
        redis.url,
        '--log',
        DEV_LOG,
        '--prefix',
        prefix,
        '--out',
        file,
      );
      expect(exported.code, exported.stderr).toBe(EXIT.ok);
      const fromFile = await govctl(
        '--json',
        'ledger',
        'verify',
        '--file',
        file,
        '--url',
        second.urls.authorityHttp,
        '--root',
        second.deployment.files.rootPublicKey,
      );
      expect(fromFile.code, fromFile.stdout).toBe(EXIT.ok);
      expect((JSON.parse(fromFile.stdout) as { records: number }).records).toBeGreaterThanOrEqual(
        verified.records,
      );
      const store = new RedisLedgerStore({ url: redis.url, log: DEV_LOG, prefix });
      try {
        expect(verified.records).toBeGreaterThanOrEqual(8);
        expect(verified.records).toBeLessThanOrEqual((await store.tip()).seq);
      } finally {
        await store.close();
      }
    } finally {
      await second.close();
    }
  });
});

describe('npm start (cli/dev.ts)', () => {
  const FREE_PORT_FLAGS = [
    'authority-grpc',
    'authority-http',
    'authz-grpc',
    'authz-http',
    'sequencer-http',
  ].flatMap((name) => [`--${name}-port`, '0']);
  // Node itself with tsx as its loader, so that a signal reaches dev mode with no relay between.
  const start = (dir: string, ...args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/dev.ts', '--dir', dir, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, REDIS_URL: '' },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve) =>
      lines.on('line', (line) => {
        stdout += line + '\n';
        if (line.startsWith('Ctrl-C')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, ready, exited, stdout: () => stdout, stderr: () => stderr };
  };

  it('prints what runs where, serves, and stops cleanly on Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-npm-start-'));
    const p = start(dir, ...FREE_PORT_FLAGS);
    try {
      await p.ready;
      const banner = p.stdout();
      expect(banner).toMatch(/ready in \d+ ms/);
      expect(banner).toMatch(/NOT durable/);
      expect(banner).toContain(join(dir, 'tokens.json'));
      expect(banner).toContain(join(dir, 'keys', 'root.pub.pem'));
      expect(banner).toContain('npm run demo');
      const http = /authority +gRPC \S+ +HTTP (\S+)/.exec(banner)![1]!;
      const health = await fetch(`${http}/healthz`);
      expect(health.status).toBe(200);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
      expect(p.stdout()).toContain('stopping');
    } finally {
      p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops within 2 s of SIGTERM when Redis is gone, and reports its connection errors sparingly', async () => {
    const redis = await startRedis({ local: true });
    const dir = mkdtempSync(join(tmpdir(), 'gov-npm-start-'));
    const p = start(dir, ...FREE_PORT_FLAGS, '--redis-url', redis.url);
    try {
      await p.ready;
      // Which Redis, and who said so: an inherited REDIS_URL alone moves dev mode to Redis.
      expect(p.stdout()).toContain(
        `store        Redis ${new URL(redis.url).host}, key prefix ` +
          `${readDevDeployment(dir)!.redisKeyPrefix} (from --redis-url; new deployment)`,
      );
      const startedAt = performance.now();
      redis.process!.kill('SIGKILL');
      // Every connection (shared, ledger, blocking reads) fails each reconnect attempt meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const signalledAt = performance.now();
      p.child.kill('SIGTERM');
      const code = await Promise.race([
        p.exited,
        new Promise((resolve) => setTimeout(resolve, 15_000, 'hung')),
      ]);
      const stoppedAt = performance.now();
      expect(code).toBe(0);
      expect(stoppedAt - signalledAt).toBeLessThan(2000);
      expect(p.stderr()).toMatch(/not stopped within 1500 ms: exiting, abandoning .*ledger appends/);
      // Two services log them (authority, enforcement point): the first, then one summary per 5 s.
      const errors = p
        .stdout()
        .split('\n')
        .filter((line) => line.includes('redis connection error'));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.length).toBeLessThanOrEqual(2 * (1 + Math.ceil((stoppedAt - startedAt) / 5000)));
    } finally {
      p.child.kill('SIGKILL');
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exits 1 with a hint when a port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-npm-start-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    const p = start(
      dir,
      '--authority-grpc-port',
      '0',
      '--authority-http-port',
      port,
      '--authz-grpc-port',
      '0',
      '--authz-http-port',
      '0',
      '--sequencer-http-port',
      '0',
    );
    try {
      expect(await p.exited).toBe(1);
      expect(p.stderr()).toMatch(/cannot start: .*EADDRINUSE[\s\S]*port is taken/);
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints its options with --help', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-npm-start-'));
    const p = start(dir, '--help');
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/--authority-grpc-port[\s\S]*--redis-url/);
    rmSync(dir, { recursive: true, force: true });
  });
});
