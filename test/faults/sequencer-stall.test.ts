// The ledger sequencer stalled (SIGSTOP) past the enforcement points' commit window: what they
// append is no longer chained, so they must halt — every Check denied ledger.unavailable, gRPC
// health NOT_SERVING — and resume by themselves once the sequencer catches up, with every
// event appended during the stall chained exactly once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { expectSurvived, runFaultScenario, type Fault, type ScenarioOptions } from './scenario.js';

const COMMIT_WINDOW_MS = 1000;
/** The first unchained append follows the stall by at most one load tick; this covers scheduling. */
const APPEND_SLACK_MS = 500;

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({
    redis,
    replicas: 2,
    freshness: { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: COMMIT_WINDOW_MS },
  });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

it('halts every Check ledger.unavailable (NOT_SERVING) while the sequencer is stalled, and resumes after', async () => {
  const health: string[] = [];
  const fault: Fault = {
    name: 'sequencer-stall',
    inject: async () => {
      cluster.sequencer.signal('SIGSTOP');
      return Date.now() + COMMIT_WINDOW_MS + APPEND_SLACK_MS;
    },
    probe: async () => {
      await new Promise((r) => setTimeout(r, 500));
      for (const replica of cluster.replicas) {
        health.push(await cluster.grpcHealth(replica), String(await cluster.healthz(replica)));
      }
    },
    heal: async () => cluster.sequencer.signal('SIGCONT'),
    reasons: ['ledger.unavailable'],
  };
  const options: ScenarioOptions = { faultMs: 6000, ledgerReachable: true };
  const report = await runFaultScenario(cluster, fault, options);
  expectSurvived(report, fault, options);
  expect(report.window!.checks).toBe(report.window!.reasons['ledger.unavailable']);
  expect(health).toEqual(['NOT_SERVING', '503', 'NOT_SERVING', '503']);
});
