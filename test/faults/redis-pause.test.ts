// Redis paused (SIGSTOP) under load: every Check that needs it waits on a store that accepts
// TCP but never answers, so the decision deadline must deny it; on SIGCONT the service must
// recover by itself with no acknowledged event lost.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { expectSurvived, runFaultScenario, type Fault, type ScenarioOptions } from './scenario.js';

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, replicas: 2 });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

it('denies every Check while Redis is paused for 4 s, and recovers by itself on SIGCONT', async () => {
  const fault: Fault = {
    name: 'redis-pause',
    inject: async () => {
      redis.process!.kill('SIGSTOP');
      return Date.now();
    },
    heal: async () => {
      redis.process!.kill('SIGCONT');
    },
  };
  const options: ScenarioOptions = { faultMs: 4000, ledgerReachable: true };
  const report = await runFaultScenario(cluster, fault, options);
  expectSurvived(report, fault, options);
  expect(report.window!.checks).toBeGreaterThan(0);
});
