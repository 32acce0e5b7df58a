// Redis killed (kill -9) under load and restarted from its append-only file (appendfsync
// always): while it is gone every Check is denied; after the restart the service recovers by
// itself, every nonce spent before the crash is still spent (no replay), and every acknowledged
// ledger event survived.
import { once } from 'node:events';
import { afterAll, beforeAll, it } from 'vitest';
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

it('denies every Check while Redis is dead for 3 s, and recovers by itself after a restart from its AOF', async () => {
  const fault: Fault = {
    name: 'redis-kill',
    inject: async () => {
      const exited = once(redis.process!, 'exit');
      redis.process!.kill('SIGKILL');
      await exited;
      return Date.now();
    },
    heal: () => redis.restart(),
  };
  const options: ScenarioOptions = { faultMs: 3000, ledgerReachable: false };
  expectSurvived(await runFaultScenario(cluster, fault, options), fault, options);
});
