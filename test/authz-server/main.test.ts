// The process entry point: an invalid configuration stops it with a precise message and a
// non-zero exit; a valid one on a real Redis serves Checks, denying until the registry is fresh.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateKeyToPem, publicKeyToPem } from '../../core/keys.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { deniedBody, EnvoyClient, fixture } from './support/envoy-client.js';
import { eventually, requestId } from './support/harness.js';
import { World } from './support/world.js';

const MAIN = join(PROJECT_ROOT, 'authz-server/main.ts');
const TSX = join(PROJECT_ROOT, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'authz-main-'));

function run(configPath: string, env: Record<string, string> = {}) {
  const child = spawn(TSX, [MAIN, '--config', configPath], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe('main.ts', () => {
  it('exits 2 naming the field when the configuration is invalid', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'redis: { mode: standalone, url: redis://x:1 }\nroutes: []\n');
    const p = run(path);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/config\.invalid: invalid configuration: .*environment/);
  });

  it('starts on Redis with its keys and denies issuer.unavailable until an authority heartbeat exists', async () => {
    const world = new World(new MemoryRegistryStore());
    const cert = world.keyRecord(world.producerKid, world.producerKey, 'producer');
    writeFileSync(join(dir, 'root.pub.pem'), publicKeyToPem(world.rootKey));
    writeFileSync(join(dir, 'producer.key.pem'), privateKeyToPem(world.producerKey));
    writeFileSync(join(dir, 'producer.cert.json'), JSON.stringify(cert));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const path = join(dir, 'authz.yaml');
    writeFileSync(
      path,
      `grpc: { host: 127.0.0.1, port: ${grpcPort} }
http: { host: 127.0.0.1, port: ${httpPort} }
redis: { mode: standalone, url: redis://unused:1, keyPrefix: "${redis.prefix}" }
environment: { runtime: "k8s://cluster-east-1/ns/inference", region: us-east-1, tenancy: single }
identity: { source: peer-principal }
trust: { rootKeys: [${join(dir, 'root.pub.pem')}] }
producer: { id: "${world.producer.id}", keyFile: ${join(dir, 'producer.key.pem')}, certificateFile: ${join(dir, 'producer.cert.json')} }
freshness: { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: 2000 }
logLevel: warn
routes:
  - { method: POST, path: "/v1/models/{model}:invoke", operation: model.invoke, policy: "policy://medical/inference/v3" }
`,
    );
    const p = run(path, { REDIS_URL: redis.url });
    const client = new EnvoyClient(grpcPort);
    try {
      const up = await eventually(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 503;
        } catch {
          return false;
        }
      }, 20_000);
      expect(up, p.stderr()).toBe(true);
      const answer = await client.check(
        fixture('model-invoke', { artifact: await world.issue(), 'request-id': requestId() }),
      );
      expect(deniedBody(answer).reason).toBe('issuer.unavailable');
    } finally {
      client.close();
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  });
});
