// The authority stopped (kill -9) past the revocation freshness bound: once its last signed
// heartbeat is older than the bound, the enforcement points cannot know whether a revocation
// was missed, so they must deny every Check issuer.unavailable and report NOT_SERVING; when
// the authority is back they must recover by themselves.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseMillis } from '../../core/time.js';
import { Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { expectSurvived, runFaultScenario, type Fault, type ScenarioOptions } from './scenario.js';

const REVOCATIONS_SECONDS = 3;

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({
    redis,
    replicas: 2,
    heartbeatMs: 500,
    freshness: { keysSeconds: 30, revocationsSeconds: REVOCATIONS_SECONDS, ledgerCommitWindowMs: 2000 },
  });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

it(`denies everything issuer.unavailable once the heartbeat is ${REVOCATIONS_SECONDS} s stale, and recovers when the authority returns`, async () => {
  const health: string[] = [];
  const fault: Fault = {
    name: 'authority-stale',
    // The window opens exactly when the newest heartbeat the authority ever signed passes the bound.
    inject: async () => {
      await cluster.authority.kill('SIGKILL');
      const heartbeat = await cluster.registry.latestHeartbeat();
      return parseMillis(heartbeat!.time)! + REVOCATIONS_SECONDS * 1000;
    },
    probe: async () => {
      await new Promise((r) => setTimeout(r, 1000));
      for (const replica of cluster.replicas) {
        health.push(await cluster.grpcHealth(replica), String(await cluster.healthz(replica)));
      }
    },
    heal: async () => cluster.authority.start(),
    reasons: ['issuer.unavailable'],
  };
  const options: ScenarioOptions = { faultMs: REVOCATIONS_SECONDS * 1000 + 4000, ledgerReachable: true };
  const report = await runFaultScenario(cluster, fault, options);
  expectSurvived(report, fault, options);
  expect(report.window!.checks).toBe(report.window!.reasons['issuer.unavailable']);
  expect(health).toEqual(['NOT_SERVING', '503', 'NOT_SERVING', '503']);
});
