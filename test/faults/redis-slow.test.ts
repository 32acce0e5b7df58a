// Redis made slow (DEBUG SLEEP, alternating 100 ms and 300 ms stalls around the 200 ms decision
// deadline and the 250 ms command timeout) under load: some Checks finish in time and may be
// allowed, the others must be denied; no single-use artifact may be allowed twice, every allow
// must be fully ledgered, and the service must be back to normal when Redis is.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { expectSurvived, runFaultScenario, type Fault, type ScenarioOptions } from './scenario.js';

let redis: TestRedis;
let cluster: Cluster;
let stalls = 0;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, replicas: 2 });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

it('never allows twice or without evidence while Redis stalls around the decision deadline', async () => {
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  let slow: Promise<void> | undefined;
  let healing = false;
  const fault: Fault = {
    name: 'redis-slow',
    inject: async () => {
      slow = (async () => {
        for (let i = 0; !healing; i++) {
          await admin.call('DEBUG', 'SLEEP', i % 2 === 0 ? '0.1' : '0.3');
          stalls++;
          await new Promise((r) => setTimeout(r, 40));
        }
      })();
      return undefined;
    },
    heal: async () => {
      healing = true;
      await slow;
    },
  };
  const options: ScenarioOptions = { faultMs: 5000, ledgerReachable: true };
  try {
    const report = await runFaultScenario(cluster, fault, options);
    expectSurvived(report, fault, options);
    expect(stalls).toBeGreaterThan(10);
  } finally {
    admin.disconnect();
  }
});
