// The configuration and the process entry point: the shipped configuration shape is accepted,
// an invalid one stops the process naming the field, an issuer key the pinned root did not
// certify stops it, and the production-shaped development deployment starts on Redis and issues.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { keyFromPem, generatePrivateKey } from '../../core/keys.js';
import type { KeyRecord } from '../../core/registry.js';
import { DEV_IDENTITIES, writeDevDeployment } from '../../devkit/dev-deployment.js';
import { loadConfig, parseConfig } from '../../authority/config.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { certify } from './support/fixtures.js';

const MAIN = join(PROJECT_ROOT, 'authority/main.ts');
const TSX = join(PROJECT_ROOT, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'authority-main-'));

function run(configPath: string) {
  const child = spawn(TSX, [MAIN, '--config', configPath], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const serving = new Promise<{ grpc: number; http: number }>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const log = JSON.parse(line) as { msg?: string; grpc?: number; http?: number };
      if (log.msg === 'authority serving') resolve({ grpc: log.grpc!, http: log.http! });
    });
  });
  return { child, exited, serving, stderr: () => stderr };
}

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  it('accepts the provisional deployment shape as written', () => {
    const config = loadConfig(join(PROJECT_ROOT, 'envoy/config/authority.yaml'), {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(config).toMatchObject({
      grpc: { port: 7070 },
      http: { port: 7080 },
      issuer: { id: 'governance://11-11/authority/prod' },
      trust: { rootKeys: ['/etc/governance/keys/root.pub.pem'] },
      admin: { policy: 'policy://governance/admin/v1' },
    });
  });

  it.each([
    ['an unknown field', { extra: 1 }, /Unrecognized key: "extra"/],
    ['a missing issuer', { issuer: undefined }, /issuer: Invalid input/],
    [
      'a token digest that is not SHA-256',
      { identity: { devTokens: [{ identity: 'x', sha256: 'abc' }] } },
      /identity\.devTokens\.0\.sha256/,
    ],
    [
      'a Redis URL that is not redis://',
      { redis: { mode: 'standalone', url: 'http://x' } },
      /redis:\/\/ or rediss:\/\//,
    ],
  ])('refuses %s, naming it', (_what, change, message) => {
    const base = {
      redis: { mode: 'standalone', url: 'redis://127.0.0.1:1' },
      issuer: { id: 'governance://x', keyFile: 'k', certificateFile: 'c' },
      audit: { keyFile: 'a' },
    };
    expect(() => parseConfig({ ...base, ...change })).toThrow(message);
  });
});

describe('main.ts', () => {
  it('exits 2 naming the field when the configuration is invalid', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'redis: { mode: standalone, url: redis://x:1 }\n');
    const p = run(path);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/authority: cannot start: config\.invalid: invalid configuration: .*issuer/);
  });

  it('refuses to start when the issuer key record does not verify against the pinned root', async () => {
    const deployment = writeDevDeployment(join(dir, 'forged'), { redisUrl: redis.url });
    const config = parseYaml(readFileSync(deployment.files.authorityConfig, 'utf8')) as {
      issuer: { keyFile: string; certificateFile: string; id: string };
    };
    const record = JSON.parse(readFileSync(config.issuer.certificateFile, 'utf8')) as KeyRecord;
    const issuerKey = keyFromPem(readFileSync(config.issuer.keyFile, 'utf8'));
    // The same key and fields, certified by a root nobody pinned.
    const forged = certify(issuerKey, record.kid, { subject: config.issuer.id }, generatePrivateKey());
    writeFileSync(
      config.issuer.certificateFile,
      JSON.stringify({ ...forged, cert: { ...forged.cert, root_kid: record.cert.root_kid } }),
    );
    const p = run(deployment.files.authorityConfig);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(
      /config\.invalid: .*issuer\.cert\.json: key record key:dev\/issuer\/1 is not certified by a pinned root/,
    );
  });

  it('starts from the development deployment on Redis and issues to a development token', async () => {
    const deployment = writeDevDeployment(join(dir, 'dev'), {
      redisUrl: redis.url,
      ports: { authorityGrpc: 0, authorityHttp: 0 },
      logLevel: 'info',
    });
    const configPath = deployment.files.authorityConfig;
    const config = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, Record<string, unknown>>;
    config.redis!.keyPrefix = redis.prefix;
    writeFileSync(configPath, JSON.stringify(config));
    const p = run(configPath);
    try {
      const { http } = await p.serving;
      const reply = await fetch(`http://127.0.0.1:${http}/v1/govern/execute`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${deployment.tokens.workload}`,
        },
        body: JSON.stringify({
          op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.read', 'phi.no_export'] },
          env: { runtime: 'k8s://cluster-east-1/ns/inference' },
        }),
      });
      expect(reply.status).toBe(200);
      expect(await reply.json()).toMatchObject({
        decision: 'allow',
        artifact: { sub: DEV_IDENTITIES.workload },
      });
    } finally {
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  });
});
