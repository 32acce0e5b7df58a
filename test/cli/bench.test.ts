// govctl bench: the Check benchmark's harness against an ext_authz address. A real enforcement
// point (dev mode in this process, on free ports) must allow exactly the allowed kinds of the mix
// and deny the rest for their reasons; a server that allows everything must fail the run.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationClient,
  loadEnvoyAuthProto,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from '../../authz-server/envoy-proto.js';
import { ARTIFACT_HEADER } from '../../core/protocol.js';
import { generatePrivateKey, privateKeyToPem } from '../../core/keys.js';
import type { BenchReport } from '../../bench/lib/run.js';
import { denied } from '../../bench/lib/baseline-server.js';
import { startBaseline, type RunningTarget } from '../../bench/lib/targets.js';
import { DEFAULT_MIX, TRAFFIC_KINDS, type TrafficKind } from '../../bench/lib/traffic.js';
import { EXIT } from '../../cli/output.js';
import { govctl } from '../support/govctl.js';
import { startTestDevMode, type TestDevMode } from '../dev/support.js';

const dir = mkdtempSync(join(tmpdir(), 'govctl-bench-'));
let dev: TestDevMode;
let allowsEverything: RunningTarget;
let issuerKid: string;
const otherKey = join(dir, 'other.key.pem');

/** A short run: one closed and one open loop of under a second each, no h2load. */
const SHORT = ['--concurrency', '2', '--max-rate', '300', '--rate', '150', '--duration', '0.6'];
const QUICK = [...SHORT, '--warmup', '0.2', '--no-h2load'];

beforeAll(async () => {
  const key = generatePrivateKey();
  writeFileSync(otherKey, privateKeyToPem(key));
  [dev, allowsEverything] = await Promise.all([
    startTestDevMode(),
    startBaseline('noop', { kid: 'key:test/other', key }),
  ]);
  issuerKid = (JSON.parse(readFileSync(dev.deployment.files.issuerRecord, 'utf8')) as { kid: string }).kid;
});

afterAll(async () => {
  await Promise.all([dev?.close(), allowsEverything?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const BUSY_REFUSALS = 8;

/**
 * The enforcement point `target` on a busy machine: it refuses the first presentation of every
 * other artifact among the first 2 * BUSY_REFUSALS Checks carrying one (the run's priming) at its
 * decision deadline, without spending it, as the real one does under load; the rest it forwards.
 */
async function busyEnforcementPoint(target: string) {
  const upstream = authorizationClient(target);
  let carrying = 0;
  const server = new Server();
  server.addService(loadEnvoyAuthProto().service, {
    Check(
      call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>,
      callback: sendUnaryData<CheckResponseMessage>,
    ) {
      const header = call.request.attributes?.request?.http?.headers?.[ARTIFACT_HEADER];
      if (header !== undefined && carrying++ < 2 * BUSY_REFUSALS && carrying % 2 === 1) {
        return callback(null, denied('internal.error'));
      }
      upstream.Check(call.request, new Metadata(), { deadline: Date.now() + 5000 }, callback);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop() {
      server.forceShutdown();
      upstream.close();
    },
  };
}

const expectedReason: Partial<Record<TrafficKind, string>> = {
  replay: 'artifact.replayed',
  'bad-signature': 'artifact.signature.invalid',
  missing: 'artifact.missing',
};
const count = (outcomes: Record<string, number>) => Object.values(outcomes).reduce((a, b) => a + b, 0);

describe('govctl bench', () => {
  it('measures a real enforcement point: the mix allowed and denied as it must be, exit 0', async () => {
    const run = await govctl(
      '--json',
      'bench',
      '--target',
      dev.urls.authzGrpc,
      '--signing-key',
      dev.deployment.files.issuerKey,
      '--kid',
      issuerKid,
      ...QUICK,
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const report = JSON.parse(run.stdout) as BenchReport;
    expect(report.failures).toEqual([]);
    expect(report.targets.map((t) => t.name)).toEqual(['target']);
    expect(report.scenarios.map((s) => s.scenario)).toEqual(['closed c=2', 'open 150/s']);
    const totalWeight = Object.values(DEFAULT_MIX).reduce((a, b) => a + b, 0);
    for (const s of report.scenarios) {
      expect(s.invalidAllows).toBe(0);
      expect(s.unexpected).toEqual({});
      const sent = s.requests.warmup + s.requests.measured;
      expect(sent).toBeGreaterThan(totalWeight / 5);
      let allowed = 0;
      for (const kind of TRAFFIC_KINDS) {
        const outcomes = s.outcomes[kind];
        const reason = expectedReason[kind] ?? 'allow';
        expect(Object.keys(outcomes), kind).toEqual([reason]);
        if (reason === 'allow') allowed += outcomes.allow!;
        // The kinds are interleaved by weight: each within one mix cycle (20 requests) of its share.
        expect(Math.abs(count(outcomes) - (sent * DEFAULT_MIX[kind]) / totalWeight), kind).toBeLessThan(15);
      }
      expect(allowed).toBe(s.outcomes.single.allow! + s.outcomes.bounded.allow! + s.outcomes.rate.allow!);
      expect(Math.abs(allowed - sent * 0.8)).toBeLessThan(17);
      expect(s.latency.count).toBe(s.requests.measured);
    }
  });

  it('replays only artifacts a busy server confirmed spent: a refused priming is no replay', async () => {
    const busy = await busyEnforcementPoint(dev.urls.authzGrpc);
    try {
      const run = await govctl(
        '--json',
        'bench',
        '--target',
        busy.address,
        '--signing-key',
        dev.deployment.files.issuerKey,
        '--kid',
        issuerKid,
        ...QUICK,
        '--rate',
        'none',
        '--mix',
        'single=1,replay=1',
      );
      expect(run.code, run.stdout).toBe(EXIT.ok);
      const report = JSON.parse(run.stdout) as BenchReport;
      expect(report.failures).toEqual([]);
      const [scenario] = report.scenarios;
      expect(Object.keys(scenario!.outcomes.replay)).toEqual(['artifact.replayed']);
      expect(report.notes).toContain(
        `target closed c=2: replay artifacts on first presentation: ${JSON.stringify({
          'internal.error': BUSY_REFUSALS,
          allow: 64 - BUSY_REFUSALS,
        })}`,
      );
    } finally {
      busy.stop();
    }
  });

  it('fails (exit 1) against a server that allows what must be denied, and writes --out', async () => {
    const out = join(dir, 'out');
    const run = await govctl(
      '--json',
      'bench',
      '--target',
      allowsEverything.target.address,
      '--signing-key',
      otherKey,
      '--kid',
      'key:test/other',
      ...QUICK,
      '--rate',
      'none',
      '--out',
      out,
    );
    expect(run.code, run.stderr).toBe(EXIT.negative);
    const report = JSON.parse(run.stdout) as BenchReport;
    const [scenario] = report.scenarios;
    expect(scenario!.invalidAllows).toBeGreaterThan(0);
    expect(report.failures).toEqual([
      `target closed c=2: ${scenario!.invalidAllows} requests that must be denied were allowed`,
    ]);
    const [file] = readdirSync(out);
    expect(JSON.parse(readFileSync(join(out, file!), 'utf8'))).toEqual(report);
  });

  it('prints the markdown summary without --json', async () => {
    const run = await govctl(
      'bench',
      '--target',
      allowsEverything.target.address,
      '--signing-key',
      otherKey,
      '--kid',
      'key:test/other',
      '--mix',
      'missing=1',
      ...QUICK,
      '--concurrency',
      'none',
      '--rate',
      '50',
    );
    expect(run.code).toBe(EXIT.negative);
    expect(run.stdout).toMatch(/^Check benchmark, /);
    expect(run.stdout).toContain('| target | open 50/s |');
    expect(run.stdout).toContain('FAILED: target open 50/s:');
  });

  it('exits 3 when nothing answers at the target, 2 on usage errors', async () => {
    const key = ['--signing-key', otherKey, '--kid', 'key:test/other'];
    expect((await govctl('bench', '--target', '127.0.0.1:1', ...key, ...QUICK)).code).toBe(EXIT.unavailable);
    const unsigned = await govctl('bench', '--target', dev.urls.authzGrpc, ...QUICK);
    expect(unsigned.code).toBe(EXIT.usage);
    expect(unsigned.stderr).toContain('give --signing-key');
    expect((await govctl('bench', '--concurrency', 'many')).code).toBe(EXIT.usage);
    expect((await govctl('bench', ...key, '--mix', 'single=1,cats=2')).code).toBe(EXIT.usage);
  });
});
